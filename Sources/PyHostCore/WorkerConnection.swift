import CPyHostShims
import NIOCore
import NIOPosix
import PyHostWire
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The server's handle on one worker process: its channel on an event loop, and its pidfd.
public final class WorkerConnection: Sendable {
    public let pid: Int32
    /// The zygote's id for the spawn of this worker: its exit is reported under it.
    let spawn: UInt64
    /// The zygote that forked this worker, which knows how it ended.
    let zygote: ZygoteClient
    private let pidfd: Int32
    private let channel: any Channel

    /// Adopts the channel end of a freshly spawned worker onto an event loop.
    /// - Parameter limits: the largest frame of each kind the worker may send; a larger one is a
    ///   protocol violation that ends the worker.
    static func adopt(
        _ process: SpawnedProcess, zygote: ZygoteClient, group: any EventLoopGroup, limits: FrameLimits
    ) async throws -> WorkerConnection {
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers([
                            ByteToMessageHandler(FrameDecoder(limits: limits)),
                            MessageToByteHandler(FrameEncoder()),
                            WorkerChannelHandler(),
                        ])
                    }
                }
                .withConnectedSocket(process.channelFD).get()
        } catch {
            _ = pyhost_pidfd_send_signal(process.pidfd, SIGKILL)
            close(process.pidfd)
            close(process.channelFD)
            throw error
        }
        return WorkerConnection(spawn: process.id, pid: process.pid, zygote: zygote, pidfd: process.pidfd, channel: channel)
    }

    private init(spawn: UInt64, pid: Int32, zygote: ZygoteClient, pidfd: Int32, channel: any Channel) {
        self.spawn = spawn
        self.pid = pid
        self.zygote = zygote
        self.pidfd = pidfd
        self.channel = channel
    }

    /// Sends one frame and waits for the worker's answer.
    /// - Throws: `HostError.protocolViolation` when the worker broke the protocol (the channel is
    ///   then closed), or `WorkerChannelError` when the channel closes or the deadline passes first.
    func exchange(_ frame: Frame, timeout: Duration?) async throws -> WorkerReply {
        let deadline = timeout.map { TimeAmount.nanoseconds(max(0, $0.nanoseconds)) }
        let channel = self.channel
        do {
            // One task on the channel's event loop does it all: every future callback registered
            // from another thread would be a task, and a wake-up, of its own.
            return try await withCheckedThrowingContinuation { continuation in
                let send: @Sendable () -> Void = {
                    let reply = channel.eventLoop.makePromise(of: WorkerReply.self)
                    reply.futureResult.whenComplete { continuation.resume(with: $0) }
                    // On a channel already closed the call never reaches the handler, which would
                    // answer it: the failed write answers it instead (a second answer is ignored).
                    let written = channel.eventLoop.makePromise(of: Void.self)
                    written.futureResult.whenFailure { _ in reply.fail(WorkerChannelError.notSent) }
                    channel.writeAndFlush(WorkerCall(frame: frame, reply: reply, timeout: deadline), promise: written)
                }
                // A call from the channel's own event loop (see `WorkerPool.acquire`) sends at once.
                if channel.eventLoop.inEventLoop { send() } else { channel.eventLoop.execute(send) }
            }
        } catch let error as FrameCodecError {
            terminate()
            throw HostError.protocolViolation("\(error)")
        }
    }

    /// How the worker ended, for an error message: its exit status if the zygote reaped it in
    /// time, else what is known.
    func describeEnd() async -> (explanation: String, cause: String) {
        if let exit = await zygote.exit(of: spawn, within: .seconds(2)) { return (exit.explanation, exit.metricLabel) }
        return zygote.isRunning
            ? ("the worker closed its channel", "unknown") : ("the zygote ended, and the worker with it", "zygote")
    }

    /// Whether the worker was killed by SIGSYS, as its SIGSYS handler ends it after reporting a
    /// trapped call: a handler can write the report, but not die so without a forbidden call.
    func diedOfSandboxViolation() async -> Bool {
        await zygote.exit(of: spawn, within: .seconds(2)) == .killed(signal: SIGSYS)
    }

    /// The event loop the worker's channel is on.
    var eventLoop: any EventLoop { channel.eventLoop }

    /// Whether the worker's channel is still open.
    var isActive: Bool { channel.isActive }

    /// Whether the process is still running: its channel is open and its pidfd not yet readable
    /// (it becomes readable when the process exits, before the event loop sees the channel close).
    var isAlive: Bool {
        guard channel.isActive else { return false }
        var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) == 0
    }

    /// Runs `action` once the channel closes, for whatever reason (the worker died, or was ended).
    func onClose(_ action: @escaping @Sendable () -> Void) {
        channel.closeFuture.whenComplete { _ in action() }
    }

    /// Ends the worker at once: kills it through its pidfd and closes its channel. Idempotent.
    /// A worker is pid 1 of its PID namespace, where a SIGTERM from outside with no handler is
    /// dropped: SIGKILL is the only stop that always works, and it works at once.
    func terminate() {
        _ = pyhost_pidfd_send_signal(pidfd, SIGKILL)
        channel.close(promise: nil)
    }

    deinit {
        _ = pyhost_pidfd_send_signal(pidfd, SIGKILL)
        close(pidfd)
    }
}

/// Why a call on a worker's channel got no answer.
enum WorkerChannelError: Error {
    /// The frame never reached the worker: it had ended before the call began.
    case notSent
    case closed
    case deadlineExceeded
    case busy
}

/// A frame to send and the promise its answer fulfils.
struct WorkerCall: Sendable {
    let frame: Frame
    let reply: EventLoopPromise<WorkerReply>
    let timeout: TimeAmount?
}

/// A worker's answer, and what the call printed, if anything.
struct WorkerReply: Sendable {
    let frame: Frame
    let logs: ByteBuffer?
}

/// Matches each answer to the one call in flight, and enforces that call's deadline.
final class WorkerChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = WorkerCall
    typealias OutboundOut = Frame

    private var pending: EventLoopPromise<WorkerReply>?
    /// The tag the answers to the invoke in flight start with (see `Frame.callTagBytes`).
    private var tag: ByteBuffer?
    private var logs: ByteBuffer?
    private var deadline: Scheduled<Void>?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let call = unwrapOutboundIn(data)
        guard pending == nil else {
            call.reply.fail(WorkerChannelError.busy)
            promise?.fail(WorkerChannelError.busy)
            return
        }
        guard context.channel.isActive else {
            call.reply.fail(WorkerChannelError.notSent)
            promise?.fail(WorkerChannelError.notSent)
            return
        }
        pending = call.reply
        tag =
            call.frame.kind == .invoke
            ? call.frame.payload.getSlice(at: call.frame.payload.readerIndex, length: Frame.callTagBytes) : nil
        if let timeout = call.timeout {
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            deadline = context.eventLoop.scheduleTask(in: timeout) {
                let (handler, context) = loopBound.value
                handler.finish(with: .failure(WorkerChannelError.deadlineExceeded))
                context.close(promise: nil)
            }
        }
        // A write that fails (EPIPE: the worker is gone) means the call never reached it.
        let written = promise ?? context.eventLoop.makePromise()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        written.futureResult.whenFailure { _ in loopBound.value.0.finish(with: .failure(WorkerChannelError.notSent)) }
        context.write(wrapOutboundOut(call.frame), promise: written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard pending != nil else {
            // An answer nobody asked for: the worker is not following the protocol.
            context.close(promise: nil)
            return
        }
        var frame = unwrapInboundIn(data)
        // The SIGSYS handler's report has no tag; the worker ends right after it.
        if let tag, frame.kind != .sandboxViolation {
            guard frame.payload.readableBytesView.starts(with: tag.readableBytesView) else {
                errorCaught(context: context, error: FrameCodecError.otherCall(frame.kind))
                return
            }
            frame.payload.moveReaderIndex(forwardBy: Frame.callTagBytes)
        }
        if frame.kind == .logs {
            guard logs == nil else {
                errorCaught(context: context, error: FrameCodecError.repeatedKind(.logs))
                return
            }
            logs = frame.payload
            return
        }
        finish(with: .success(WorkerReply(frame: frame, logs: logs)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(with: .failure(WorkerChannelError.closed))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A Unix socket closed with unread data in it resets its peer: the worker died with the
        // call's frame unread, so no user code ran for it.
        let unread = (error as? IOError)?.errnoCode == ECONNRESET
        finish(with: .failure(unread ? WorkerChannelError.notSent : error))
        context.close(promise: nil)
    }

    private func finish(with result: Result<WorkerReply, any Error>) {
        deadline?.cancel()
        deadline = nil
        logs = nil
        tag = nil
        guard let pending else { return }
        self.pending = nil
        pending.completeWith(result)
    }
}
