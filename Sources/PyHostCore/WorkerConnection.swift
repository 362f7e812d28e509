import CPyHostShims
import NIOCore
import NIOPosix
import PyHostWire

#if canImport(Glibc)
import Glibc
#endif

/// The server's handle on one worker process: its channel on an event loop, and its pidfd.
public final class WorkerConnection: Sendable {
    public let pid: Int32
    private let pidfd: Int32
    private let channel: any Channel

    /// The largest frame a worker may send: a 6 MiB body plus room for the error envelope.
    static let maximumFrame = 8 * 1024 * 1024

    /// Adopts the channel end of a freshly spawned worker onto an event loop.
    static func adopt(_ process: SpawnedProcess, group: any EventLoopGroup) async throws -> WorkerConnection {
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers([
                            ByteToMessageHandler(FrameDecoder(maximumPayload: maximumFrame)),
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
        return WorkerConnection(pid: process.pid, pidfd: process.pidfd, channel: channel)
    }

    private init(pid: Int32, pidfd: Int32, channel: any Channel) {
        self.pid = pid
        self.pidfd = pidfd
        self.channel = channel
    }

    /// Sends one frame and waits for the worker's answer.
    /// - Throws: `WorkerChannelError` when the channel closes or the deadline passes first.
    func exchange(_ frame: Frame, timeout: Duration?) async throws -> Frame {
        let promise = channel.eventLoop.makePromise(of: Frame.self)
        let deadline = timeout.map { TimeAmount.nanoseconds(max(0, $0.nanoseconds)) }
        channel.writeAndFlush(WorkerCall(frame: frame, reply: promise, timeout: deadline), promise: nil)
        return try await promise.futureResult.get()
    }

    /// Whether the worker's channel is still open.
    var isActive: Bool { channel.isActive }

    /// Runs `action` once the channel closes, for whatever reason (the worker died, or was ended).
    func onClose(_ action: @escaping @Sendable () -> Void) {
        channel.closeFuture.whenComplete { _ in action() }
    }

    /// Ends the worker: closes its channel and kills it through its pidfd. Idempotent.
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
    case closed
    case deadlineExceeded
    case busy
}

/// A frame to send and the promise its answer fulfils.
struct WorkerCall: Sendable {
    let frame: Frame
    let reply: EventLoopPromise<Frame>
    let timeout: TimeAmount?
}

/// Matches each answer to the one call in flight, and enforces that call's deadline.
final class WorkerChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = WorkerCall
    typealias OutboundOut = Frame

    private var pending: EventLoopPromise<Frame>?
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
        finish(with: .success(unwrapInboundIn(data)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(with: .failure(WorkerChannelError.closed))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(with: .failure(error))
        context.close(promise: nil)
    }

    private func finish(with result: Result<Frame, any Error>) {
        deadline?.cancel()
        deadline = nil
        guard let pending else { return }
        self.pending = nil
        pending.completeWith(result)
    }
}
