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
    /// The zygote that forked this worker, which knows how it ended.
    let zygote: ZygoteClient
    private let pidfd: Int32
    private let channel: any Channel
    private let stopping = Atomic(false)

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
        return WorkerConnection(pid: process.pid, zygote: zygote, pidfd: process.pidfd, channel: channel)
    }

    private init(pid: Int32, zygote: ZygoteClient, pidfd: Int32, channel: any Channel) {
        self.pid = pid
        self.zygote = zygote
        self.pidfd = pidfd
        self.channel = channel
    }

    /// Sends one frame and waits for the worker's answer.
    /// - Throws: `HostError.protocolViolation` when the worker broke the protocol (the channel is
    ///   then closed), or `WorkerChannelError` when the channel closes or the deadline passes first.
    func exchange(_ frame: Frame, timeout: Duration?) async throws -> WorkerReply {
        let promise = channel.eventLoop.makePromise(of: WorkerReply.self)
        let deadline = timeout.map { TimeAmount.nanoseconds(max(0, $0.nanoseconds)) }
        channel.writeAndFlush(WorkerCall(frame: frame, reply: promise, timeout: deadline), promise: nil)
        do {
            return try await promise.futureResult.get()
        } catch let error as FrameCodecError {
            terminate()
            throw HostError.protocolViolation("\(error)")
        }
    }

    /// How the worker ended, for an error message: its exit status if the zygote reaped it in
    /// time, else what is known.
    func describeEnd() async -> (explanation: String, cause: String) {
        if let exit = await zygote.exit(of: pid, within: .seconds(2)) { return (exit.explanation, exit.metricLabel) }
        return zygote.isRunning
            ? ("the worker closed its channel", "unknown") : ("the zygote ended, and the worker with it", "zygote")
    }

    /// Whether the worker's channel is still open.
    var isActive: Bool { channel.isActive }

    /// Runs `action` once the channel closes, for whatever reason (the worker died, or was ended).
    func onClose(_ action: @escaping @Sendable () -> Void) {
        channel.closeFuture.whenComplete { _ in action() }
    }

    /// Ends the worker: closes its channel and kills it through its pidfd. Idempotent. A worker
    /// already being stopped with a grace period keeps it.
    func terminate() {
        if !stopping.load(ordering: .relaxed) { _ = pyhost_pidfd_send_signal(pidfd, SIGKILL) }
        channel.close(promise: nil)
    }

    /// SIGTERM now, SIGKILL after `grace`: a handler that catches SIGTERM may clean up, one that
    /// ignores it dies all the same.
    func stop(grace: Duration) {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        _ = pyhost_pidfd_send_signal(pidfd, SIGTERM)
        channel.close(promise: nil)
        channel.eventLoop.scheduleTask(in: .nanoseconds(grace.nanoseconds)) { [self] in
            _ = pyhost_pidfd_send_signal(pidfd, SIGKILL)
        }
    }

    deinit {
        _ = pyhost_pidfd_send_signal(pidfd, SIGKILL)
        close(pidfd)
    }
}

/// Why a call on a worker's channel got no answer.
enum WorkerChannelError: Error {
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
    private var logs: ByteBuffer?
    private var deadline: Scheduled<Void>?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let call = unwrapOutboundIn(data)
        guard pending == nil else {
            call.reply.fail(WorkerChannelError.busy)
            return
        }
        guard context.channel.isActive else {
            call.reply.fail(WorkerChannelError.closed)
            return
        }
        pending = call.reply
        if let timeout = call.timeout {
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            deadline = context.eventLoop.scheduleTask(in: timeout) {
                let (handler, context) = loopBound.value
                handler.finish(with: .failure(WorkerChannelError.deadlineExceeded))
                context.close(promise: nil)
            }
        }
        context.write(wrapOutboundOut(call.frame), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard pending != nil else {
            // An answer nobody asked for: the worker is not following the protocol.
            context.close(promise: nil)
            return
        }
        let frame = unwrapInboundIn(data)
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
        finish(with: .failure(error))
        context.close(promise: nil)
    }

    private func finish(with result: Result<WorkerReply, any Error>) {
        deadline?.cancel()
        deadline = nil
        logs = nil
        guard let pending else { return }
        self.pending = nil
        pending.completeWith(result)
    }
}
