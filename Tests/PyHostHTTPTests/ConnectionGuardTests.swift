import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

@testable import PyHostHTTP

@Suite struct ConnectionGuardTests {
    private func connect(_ connections: ConnectionGuard, on loop: EmbeddedEventLoop) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.pipeline.syncOperations.addHandler(connections.handler())
        return channel
    }

    private let head = HTTPRequestPart.head(HTTPRequest(method: .post, scheme: nil, authority: nil, path: "/"))

    /// A connection whose request has been read in full, so an answer is owed.
    private func requested(_ connections: ConnectionGuard, on loop: EmbeddedEventLoop) throws -> EmbeddedChannel {
        let channel = try connect(connections, on: loop)
        try channel.writeInbound(head)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        return channel
    }

    /// Time passes on `loop`: `channel` is still open just before `delay`, and closed at it.
    private func expectClosed(_ channel: EmbeddedChannel, after delay: TimeAmount, on loop: EmbeddedEventLoop) {
        loop.advanceTime(by: delay - .milliseconds(1))
        #expect(channel.isActive)
        loop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
    }

    /// The client stops taking what is written to it.
    private func fallBehind(_ channel: EmbeddedChannel) {
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
    }

    @Test func aConnectionBeyondTheCapClosesTheOldestStillWaitingForAHead() throws {
        let loop = EmbeddedEventLoop()
        let connections = ConnectionGuard(capacity: 2)
        let oldest = try connect(connections, on: loop)
        loop.advanceTime(by: .milliseconds(1))
        let busy = try connect(connections, on: loop)
        try busy.writeInbound(head)
        let newest = try connect(connections, on: loop)
        #expect(!oldest.isActive && busy.isActive && newest.isActive)
    }

    @Test func aConnectionBeyondTheCapIsClosedWhenEveryOtherIsBusy() throws {
        let loop = EmbeddedEventLoop()
        let connections = ConnectionGuard(capacity: 1)
        let busy = try connect(connections, on: loop)
        try busy.writeInbound(head)
        let refused = try connect(connections, on: loop)
        #expect(busy.isActive && !refused.isActive)
    }

    @Test func aHeadMustArriveWithinTheHeaderTimeoutAndABodyWithinTheBodyTimeout() throws {
        let loop = EmbeddedEventLoop()
        let connections = ConnectionGuard(capacity: 10)
        let silent = try connect(connections, on: loop)
        let slowBody = try connect(connections, on: loop)
        loop.advanceTime(by: ConnectionState.headerTimeout - .milliseconds(1))
        try slowBody.writeInbound(head)
        loop.advanceTime(by: .milliseconds(1))
        #expect(!silent.isActive && slowBody.isActive)
        loop.advanceTime(by: ConnectionState.bodyTimeout)
        #expect(!slowBody.isActive)
    }

    /// A call the server takes long to answer is not the client's delay; after the answer, the next
    /// head is due within the header timeout again.
    @Test func theHeaderTimeoutRestartsAfterEachAnswerAndPausesWhileTheServerAnswers() throws {
        let loop = EmbeddedEventLoop()
        let channel = try connect(ConnectionGuard(capacity: 10), on: loop)
        for _ in 0..<3 {
            loop.advanceTime(by: ConnectionState.headerTimeout - .milliseconds(1))
            try channel.writeInbound(head)
            try channel.writeInbound(HTTPRequestPart.end(nil))
            loop.advanceTime(by: ConnectionState.bodyTimeout * 2)
            #expect(channel.isActive)
            try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
            try channel.writeOutbound(HTTPResponsePart.end(nil))
        }
        expectClosed(channel, after: ConnectionState.headerTimeout, on: loop)
    }

    /// A client that stops reading a large answer holds the connection no longer than the send
    /// timeout, and meanwhile is the first closed to make room.
    @Test func aClientThatDoesNotReadItsAnswerIsClosedAndEvictable() throws {
        let loop = EmbeddedEventLoop()
        let connections = ConnectionGuard(capacity: 2)
        let stalled = try requested(connections, on: loop)
        try stalled.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        fallBehind(stalled)
        loop.advanceTime(by: .milliseconds(1))
        let busy = try connect(connections, on: loop)
        try busy.writeInbound(head)
        _ = try connect(connections, on: loop)
        #expect(!stalled.isActive && busy.isActive, "the stalled one made room")

        let alone = try requested(ConnectionGuard(capacity: 10), on: loop)
        fallBehind(alone)
        expectClosed(alone, after: ConnectionState.sendTimeout, on: loop)
    }

    /// Once the server stops, a client that takes nothing of its answer holds the stop for the
    /// stopping send timeout, not the whole send timeout.
    @Test func aStoppingServerWaitsLessForAClientThatDoesNotRead() throws {
        let loop = EmbeddedEventLoop()
        let channel = try requested(ConnectionGuard(capacity: 10), on: loop)
        fallBehind(channel)
        loop.advanceTime(by: .seconds(1))
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        expectClosed(channel, after: ConnectionState.stoppingSendTimeout - .seconds(1), on: loop)
    }

    /// An answer sent before its request's body ended (a refusal) closes the connection once sent:
    /// the rest of the body is not read.
    @Test func anAnswerBeforeTheBodyEndsClosesTheConnection() throws {
        let loop = EmbeddedEventLoop()
        let channel = try connect(ConnectionGuard(capacity: 10), on: loop)
        try channel.writeInbound(head)
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "partial")))
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .contentTooLarge)))
        #expect(channel.isActive)
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        loop.run()
        #expect(!channel.isActive)
    }

    /// A request read in full keeps its connection open after the answer.
    @Test func anAnswerAfterTheBodyKeepsTheConnection() throws {
        let loop = EmbeddedEventLoop()
        let channel = try requested(ConnectionGuard(capacity: 10), on: loop)
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        loop.run()
        #expect(channel.isActive)
    }
}

extension ConnectionGuardTests {
    /// Answers written and not taken share a budget: past it, the connection that has stopped
    /// reading longest is closed, not the one writing now.
    @Test func unsentAnswersPastTheBudgetCloseTheLongestStalledReader() throws {
        let loop = EmbeddedEventLoop()
        let connections = ConnectionGuard(capacity: 10, unsentBudget: 100)
        func answering(_ bytes: Int) throws -> EmbeddedChannel {
            let channel = try requested(connections, on: loop)
            // Written, not flushed: the bytes stay unsent, as with a client that does not read.
            channel.write(HTTPResponsePart.head(HTTPResponse(status: .ok)), promise: nil)
            channel.write(HTTPResponsePart.body(ByteBuffer(repeating: 0, count: bytes)), promise: nil)
            return channel
        }
        let stalled = try answering(60)
        fallBehind(stalled)
        loop.advanceTime(by: .seconds(1))
        let later = try answering(30)
        #expect(stalled.isActive && later.isActive, "within the budget")
        let reading = try answering(30)
        #expect(!stalled.isActive && later.isActive && reading.isActive)
        let onItsOwn = try answering(200)
        #expect(onItsOwn.isActive, "no reader has stalled: nothing to close")
    }

    /// A client that is behind but still reading is not the longest stalled: the one that stopped,
    /// though it fell behind later, is closed first.
    @Test func aSlowReaderThatKeepsReadingIsNotTakenForAStalledOne() throws {
        let loop = EmbeddedEventLoop()
        let connections = ConnectionGuard(capacity: 10, unsentBudget: 150)
        func requesting() throws -> EmbeddedChannel {
            let channel = try requested(connections, on: loop)
            channel.write(HTTPResponsePart.head(HTTPResponse(status: .ok)), promise: nil)
            return channel
        }
        let slow = try requesting()
        fallBehind(slow)
        loop.advanceTime(by: .seconds(1))
        let stopped = try requesting()
        stopped.write(HTTPResponsePart.body(ByteBuffer(repeating: 0, count: 60)), promise: nil)
        fallBehind(stopped)
        loop.advanceTime(by: .seconds(1))
        // The slow reader takes one slice (the flush completes it), and is still behind on the next.
        try slow.writeOutbound(HTTPResponsePart.body(ByteBuffer(repeating: 0, count: 50)))
        slow.write(HTTPResponsePart.body(ByteBuffer(repeating: 0, count: 60)), promise: nil)
        let newcomer = try requesting()
        newcomer.write(HTTPResponsePart.body(ByteBuffer(repeating: 0, count: 40)), promise: nil)
        #expect(!stopped.isActive && slow.isActive && newcomer.isActive)
    }

    /// An answer whose end is queued behind slices the client is still reading is not over: the
    /// idle timeout starts once the kernel has taken it all.
    @Test func anAnswerStillBeingReadIsNotIdle() throws {
        let loop = EmbeddedEventLoop()
        let channel = try requested(ConnectionGuard(capacity: 10), on: loop)
        channel.write(HTTPResponsePart.head(HTTPResponse(status: .ok)), promise: nil)
        channel.write(HTTPResponsePart.body(ByteBuffer(repeating: 0, count: 100)), promise: nil)
        channel.write(HTTPResponsePart.end(nil), promise: nil)
        loop.advanceTime(by: ConnectionState.headerTimeout * 3)
        #expect(channel.isActive, "queued, not taken")
        channel.flush()
        expectClosed(channel, after: ConnectionState.headerTimeout, on: loop)
    }

    /// A large body goes out in slices, so a reader's progress is seen before the whole is sent.
    @Test func aLargeBodyIsWrittenInSlices() throws {
        let loop = EmbeddedEventLoop()
        let channel = try requested(ConnectionGuard(capacity: 10), on: loop)
        let size = ConnectionGuardHandler.sliceBytes * 2 + 1
        try channel.writeOutbound(HTTPResponsePart.body(ByteBuffer(repeating: 7, count: size)))
        var sizes: [Int] = []
        while case .body(let slice)? = try channel.readOutbound(as: HTTPResponsePart.self) { sizes.append(slice.readableBytes) }
        #expect(sizes == [ConnectionGuardHandler.sliceBytes, ConnectionGuardHandler.sliceBytes, 1])
    }
}

/// The limits a connection is under, as a pure state machine.
@Suite struct ConnectionStateTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func aPipelinedRequestIsAnsweredWithoutATimeoutAfterTheFirstAnswer() {
        var state = ConnectionState(openedAt: start)
        state.requestHead(at: start)
        state.requestEnd(at: start)
        state.requestHead(at: start)
        state.requestEnd(at: start)
        #expect(state.deadline == nil)
        let closes = state.responseEnd(at: start + .seconds(5))
        #expect(!closes)
        #expect(state.deadline == nil && state.waitingSince == nil, "the second request is still being answered")
        let closesAgain = state.responseEnd(at: start + .seconds(30))
        #expect(!closesAgain)
        #expect(state.deadline == start + .seconds(30) + ConnectionState.headerTimeout)
        #expect(state.waitingSince == start + .seconds(30))
    }

    @Test func aBodyIsDueFromItsHeadEvenWhileAnEarlierRequestIsAnswered() {
        var state = ConnectionState(openedAt: start)
        state.requestHead(at: start)
        state.requestEnd(at: start)
        state.requestHead(at: start + .seconds(1))
        #expect(state.deadline == start + .seconds(1) + ConnectionState.bodyTimeout)
        let closes = state.responseEnd(at: start + .seconds(2))
        #expect(!closes, "the answer is the first request's, not the one being read")
        #expect(state.deadline == start + .seconds(1) + ConnectionState.bodyTimeout)
    }

    @Test func progressWhileBehindRestartsTheSendTimeout() {
        var state = ConnectionState(openedAt: start)
        state.requestHead(at: start)
        state.requestEnd(at: start)
        state.writable(false, at: start + .seconds(1))
        state.progressed(at: start + .seconds(50))
        #expect(state.deadline == start + .seconds(50) + ConnectionState.sendTimeout)
        state.writable(true, at: start + .seconds(51))
        state.progressed(at: start + .seconds(52))
        #expect(state.deadline == nil, "progress while keeping up changes nothing")
    }

    @Test func notReadingIsLimitedWhateverElseIsGoingOn() {
        var state = ConnectionState(openedAt: start)
        state.requestHead(at: start)
        state.requestEnd(at: start)
        state.writable(false, at: start + .seconds(1))
        state.writable(false, at: start + .seconds(2))
        #expect(state.deadline == start + .seconds(1) + ConnectionState.sendTimeout)
        #expect(state.waitingSince == start + .seconds(1))
        state.writable(true, at: start + .seconds(3))
        #expect(state.deadline == nil && state.waitingSince == nil)
    }

    @Test func anAnswerWithNoRequestOwesNothing() {
        var state = ConnectionState(openedAt: start)
        let closes = state.responseEnd(at: start + .seconds(1))
        #expect(!closes)
        state.requestHead(at: start + .seconds(2))
        state.requestEnd(at: start + .seconds(2))
        #expect(state.deadline == nil, "the request is still owed its answer")
    }
}
