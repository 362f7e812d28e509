import NIOCore
import NIOEmbedded
import PyHostWire
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@testable import PyHostCore

/// The handler that matches each worker answer to the one call in flight, driven on an
/// `EmbeddedChannel` with a fake clock: no process, no socket, no sleep.
@Suite struct WorkerChannelHandlerTests {
    /// What a future completed with, read on the embedded loop, where futures complete synchronously.
    final class Outcome<Value: Sendable>: Sendable {
        let value = Mutex<Result<Value, any Error>?>(nil)

        init(_ future: EventLoopFuture<Value>) {
            future.whenComplete { [self] result in value.withLock { $0 = result } }
        }

        var reply: Value? { value.withLock { try? $0?.get() } }
        var error: (any Error)? {
            value.withLock { result in
                guard case .failure(let error) = result else { return nil }
                return error
            }
        }
    }

    func makeChannel(active: Bool = true) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: WorkerChannelHandler())
        if active { try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait() }
        return channel
    }

    /// Sends a call: what its answer and its write completed with.
    func call(_ channel: EmbeddedChannel, timeout: TimeAmount? = .seconds(1)) -> (Outcome<WorkerReply>, Outcome<Void>) {
        let reply = channel.eventLoop.makePromise(of: WorkerReply.self)
        let written = channel.eventLoop.makePromise(of: Void.self)
        let outcomes = (Outcome(reply.futureResult), Outcome(written.futureResult))
        channel.writeAndFlush(WorkerCall(frame: frame(.invoke, tag + "{}"), reply: reply, timeout: timeout), promise: written)
        return outcomes
    }

    /// The call's tag: its invocation id and a newline, which its answers start with.
    let tag = "0123456789abcdef\n"

    func frame(_ kind: Frame.Kind, _ text: String) -> Frame {
        Frame(kind: kind, payload: ByteBuffer(string: text))
    }

    @Test func aCallIsAnsweredWithWhatItPrinted() throws {
        let channel = try makeChannel()
        let (outcome, _) = call(channel)
        #expect(try channel.readOutbound(as: Frame.self) == frame(.invoke, tag + "{}"))
        try channel.writeInbound(frame(.logs, tag + "hello\n"))
        #expect(outcome.reply == nil, "logs alone do not answer the call")
        try channel.writeInbound(frame(.result, tag + "42"))
        #expect(outcome.reply?.frame == frame(.result, "42"))
        #expect(outcome.reply?.logs == ByteBuffer(string: "hello\n"))
    }

    @Test func aSecondCallWhileOneIsInFlightIsRefused() throws {
        let channel = try makeChannel()
        _ = call(channel)
        let (second, written) = call(channel)
        #expect(second.error as? WorkerChannelError == .busy)
        #expect(written.error as? WorkerChannelError == .busy, "the write's promise is answered too")
    }

    @Test func aCallOnAClosedChannelIsNotSentAndSaysSo() throws {
        let channel = try makeChannel(active: false)
        let (outcome, written) = call(channel)
        #expect(outcome.error as? WorkerChannelError == .notSent, "no user code ran: the call may go to another worker")
        #expect(written.error != nil)
        #expect(try channel.readOutbound(as: Frame.self) == nil)
    }

    @Test func theDeadlineFailsTheCallAndClosesTheChannel() throws {
        let channel = try makeChannel()
        let (outcome, _) = call(channel, timeout: .seconds(2))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1999))
        #expect(outcome.error == nil)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(outcome.error as? WorkerChannelError == .deadlineExceeded)
        #expect(!channel.isActive)
    }

    @Test func theWorkerEndingMidCallFailsIt() throws {
        let channel = try makeChannel()
        let (outcome, _) = call(channel)
        try channel.close().wait()
        #expect(outcome.error as? WorkerChannelError == .closed)
    }

    @Test func aWorkerThatDiedWithTheCallUnreadLeavesItNotSent() throws {
        let channel = try makeChannel()
        let (outcome, _) = call(channel)
        channel.pipeline.fireErrorCaught(IOError(errnoCode: ECONNRESET, reason: "read(descriptor:pointer:size:)"))
        #expect(outcome.error as? WorkerChannelError == .notSent, "a reset means the frame was never read")
        #expect(!channel.isActive)
    }

    @Test func anAnswerNobodyAskedForEndsTheWorker() throws {
        let channel = try makeChannel()
        try channel.writeInbound(frame(.result, "unasked"))
        #expect(!channel.isActive)
    }

    @Test func aSecondLogsFrameForOneCallIsAProtocolViolation() throws {
        let channel = try makeChannel()
        let (outcome, _) = call(channel)
        try channel.writeInbound(frame(.logs, tag + "one"))
        try channel.writeInbound(frame(.logs, tag + "two"))
        #expect(outcome.error is FrameCodecError)
        #expect(!channel.isActive)
    }

    /// A frame tagged for an earlier call (or not at all) is not this call's answer, however it
    /// looks: the worker is out of step and ends.
    @Test(arguments: ["fedcba9876543210\n42", "42", "0123456789abcdef42"])
    func anAnswerForAnotherCallIsAProtocolViolation(payload: String) throws {
        let channel = try makeChannel()
        let (outcome, _) = call(channel)
        try channel.writeInbound(frame(.result, payload))
        #expect(outcome.error as? FrameCodecError == .otherCall(.result))
        #expect(!channel.isActive)
    }

    /// The SIGSYS handler's report is written by C code that knows no tag; the worker ends after it.
    @Test func aSandboxViolationNeedsNoTag() throws {
        let channel = try makeChannel()
        let (outcome, _) = call(channel)
        try channel.writeInbound(frame(.sandboxViolation, "\0\0\0\u{1}"))
        #expect(outcome.reply?.frame.kind == .sandboxViolation)
    }
}
