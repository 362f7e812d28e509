import DequeModule
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PyHostWire

#if canImport(Glibc)
    import Glibc
#endif

/// One process per CPU, each serving one call at a time over a Unix socket; calls beyond them wait
/// in one queue, as pyhost's pool holds calls for its workers.
final class Relay: Sendable {
    private struct State {
        var idle: [any Channel] = []
        var queue: Deque<(ByteBuffer, EventLoopPromise<ByteBuffer>)> = []
        var inFlight: [ObjectIdentifier: EventLoopPromise<ByteBuffer>] = [:]
    }

    private let state = NIOLockedValueBox(State())

    init(command: [String], group: MultiThreadedEventLoopGroup) async throws {
        for _ in 0..<System.coreCount {
            let descriptor = try Self.spawn(command)
            let channel = try await NIOPipeBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // The limits pyhost's server puts on a worker's frames, at its default --max-response-bytes.
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(FrameDecoder(limits: .worker(maximumResponseBytes: 6 << 20))))
                        try channel.pipeline.syncOperations.addHandler(ReplyHandler(relay: self))
                    }
                }
                .takingOwnershipOfDescriptor(inputOutput: descriptor).get()
            state.withLockedValue { $0.idle.append(channel) }
        }
    }

    /// Sends `frame` to an idle process, or queues it.
    func call(_ frame: ByteBuffer, promise: EventLoopPromise<ByteBuffer>) {
        let channel: (any Channel)? = state.withLockedValue { state in
            guard let channel = state.idle.popLast() else {
                state.queue.append((frame, promise))
                return nil
            }
            state.inFlight[ObjectIdentifier(channel)] = promise
            return channel
        }
        if let channel { Self.send(frame, to: channel) }
    }

    /// A process answered: its caller gets the reply, and the process the next queued call.
    fileprivate func replied(_ reply: ByteBuffer, on channel: any Channel) {
        let (caller, next): (EventLoopPromise<ByteBuffer>?, ByteBuffer?) = state.withLockedValue { state in
            let caller = state.inFlight.removeValue(forKey: ObjectIdentifier(channel))
            guard let (frame, promise) = state.queue.popFirst() else {
                state.idle.append(channel)
                return (caller, nil)
            }
            state.inFlight[ObjectIdentifier(channel)] = promise
            return (caller, frame)
        }
        if let next { Self.send(next, to: channel) }
        caller?.succeed(reply)
    }

    private static func send(_ payload: ByteBuffer, to channel: any Channel) {
        var framed = ByteBuffer()
        FrameEncoder.write(Frame(kind: .invoke, payload: payload), to: &framed)
        channel.writeAndFlush(framed, promise: nil)
    }

    /// Starts `command` with one end of a new socket pair as its standard input; returns the other.
    private static func spawn(_ command: [String]) throws -> CInt {
        var ends: [CInt] = [0, 0]
        guard socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw IOError(errnoCode: errno, reason: "socketpair")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, ends[1], 0)
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawnp(&pid, command[0], &actions, nil, argv, environ)
        close(ends[1])
        guard spawned == 0 else { throw IOError(errnoCode: spawned, reason: "posix_spawnp") }
        return ends[0]
    }
}

private final class ReplyHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = Frame

    let relay: Relay

    init(relay: Relay) {
        self.relay = relay
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        relay.replied(unwrapInboundIn(data).payload, on: context.channel)
    }
}
