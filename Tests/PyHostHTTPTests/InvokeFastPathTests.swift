import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import PyHostCore
import Testing

@testable import PyHostHTTP

/// `InvokeFastPath` on a testing channel, with the route's steps replaced by a seam: a call to
/// `echo` answers its body once `release` lets it, and any other name is refused at its head.
@Suite struct InvokeFastPathTests {
    let budget = RequestBodyBudget(capacity: 64)
    let releases: AsyncStream<Void>
    let release: AsyncStream<Void>.Continuation

    init() {
        (releases, release) = AsyncStream<Void>.makeStream()
    }

    func steps() -> InvocationSteps {
        let releases = releases
        return InvocationSteps(
            begin: { request, name, _ in
                guard name == "echo" else { throw HostError.functionNotFound(name) }
                return { body in
                    for await _ in releases { break }
                    return Response(status: .ok, headers: [.contentType: "text/plain"], body: ResponseBody(byteBuffer: body))
                }
            },
            bodies: budget, maximumBodyBytes: 32, acceptsAuthority: { $0 != "evil.example" }, serverName: "pyhost",
            logger: Logger(label: "test"))
    }

    func channel() async throws -> NIOAsyncTestingChannel {
        let channel = NIOAsyncTestingChannel()
        try await add(to: channel) { [InvokeFastPath(steps: $0)] }
        return channel
    }

    /// Adds handlers made on the channel's event loop, where they stay.
    func add(to channel: NIOAsyncTestingChannel, _ make: @escaping @Sendable (InvocationSteps) -> [any ChannelHandler]) async throws {
        let steps = steps()
        try await channel.testingEventLoop.submit { try channel.pipeline.syncOperations.addHandlers(make(steps)) }.get()
    }

    func invoke(_ name: String, _ fields: HTTPFields = [:]) -> HTTPRequestPart {
        .head(HTTPRequest(method: .post, scheme: nil, authority: "127.0.0.1:8080", path: "/functions/\(name)/invoke", headerFields: fields))
    }

    let healthz = HTTPRequestPart.head(HTTPRequest(method: .get, scheme: nil, authority: "127.0.0.1:8080", path: "/healthz"))

    func send(_ parts: HTTPRequestPart..., on channel: NIOAsyncTestingChannel) async throws {
        for part in parts { try await channel.writeInbound(part) }
    }

    /// The next answer written: its head and body.
    func answer(on channel: NIOAsyncTestingChannel) async throws -> (HTTPResponse, String) {
        guard case .head(let head) = try await channel.waitForOutboundWrite(as: HTTPResponsePart.self) else {
            throw CancellationError()
        }
        var body = ""
        while true {
            switch try await channel.waitForOutboundWrite(as: HTTPResponsePart.self) {
            case .body(let bytes): body += String(buffer: bytes)
            case .end: return (head, body)
            case .head: throw CancellationError()
            }
        }
    }

    /// Hummingbird ends an answer (what it writes passes through the handler to the socket).
    func hummingbirdAnswers(on channel: NIOAsyncTestingChannel) async throws {
        try await channel.writeOutbound(HTTPResponsePart.end(nil))
        #expect(try await channel.readOutbound(as: HTTPResponsePart.self) == .end(nil))
    }

    func passedOn(_ channel: NIOAsyncTestingChannel) async throws -> [HTTPRequestPart] {
        var parts: [HTTPRequestPart] = []
        while let part = try await channel.readInbound(as: HTTPRequestPart.self) { parts.append(part) }
        return parts
    }

    @Test func aProgramsInvocationIsAnsweredHereAndEverythingElsePassesOn() async throws {
        let channel = try await channel()
        try await send(invoke("echo"), .body(ByteBuffer(string: "hi")), .end(nil), on: channel)
        release.yield()
        let (head, body) = try await answer(on: channel)
        #expect(head.status == .ok && body == "hi" && head.headerFields[.server] == "pyhost" && head.headerFields[.date] != nil)
        #expect(try await passedOn(channel).isEmpty)
        #expect(budget.bytesHeld == 0, "the body's charge is given back")
        for other in [
            invoke("echo", [.origin: "http://127.0.0.1:8080"]), invoke("echo", [.secFetchSite: "same-origin"]),
            invoke("echo", [.connection: "close"]), invoke("echo", [.expect: "100-continue"]),
            .head(HTTPRequest(method: .post, scheme: nil, authority: "evil.example", path: "/functions/echo/invoke")),
            invoke("Echo"), invoke("echo%20"), healthz,
        ] {
            try await send(other, .end(nil), on: channel)
            #expect(try await passedOn(channel).count == 2, "\(other) is Hummingbird's")
            try await hummingbirdAnswers(on: channel)
        }
    }

    @Test func aRequestReadDuringACallWaitsForItsAnswer() async throws {
        let channel = try await channel()
        try await send(invoke("echo"), .end(nil), healthz, .end(nil), on: channel)
        #expect(try await passedOn(channel).isEmpty, "the health check waits for the call before it")
        release.yield()
        _ = try await answer(on: channel)
        #expect(try await passedOn(channel).count == 2, "then goes on")
    }

    @Test func aCallReadWhileHummingbirdOwesAnAnswerIsHummingbirds() async throws {
        let channel = try await channel()
        try await send(healthz, .end(nil), invoke("echo"), .end(nil), on: channel)
        #expect(try await passedOn(channel).count == 4, "after the health check, the call goes through the router too")
        try await hummingbirdAnswers(on: channel)
        try await hummingbirdAnswers(on: channel)
        try await send(invoke("echo"), .end(nil), on: channel)
        release.yield()
        #expect(try await answer(on: channel).0.status == .ok, "with nothing owed, calls are answered here again")
    }

    @Test func aRefusedHeadIsAnsweredAtTheRequestsEndOrTheReadsEnd() async throws {
        let channel = try await channel()
        try await send(invoke("missing"), .body(ByteBuffer(string: "x")), .end(nil), on: channel)
        let (head, body) = try await answer(on: channel)
        #expect(head.status == .notFound && body.contains("FunctionNotFound"))
        try await send(invoke("missing"), on: channel)
        channel.pipeline.fireChannelReadComplete()
        #expect(try await answer(on: channel).0.status == .notFound, "a body still to come does not hold the refusal")
        try await send(.body(ByteBuffer(string: "dropped")), .end(nil), invoke("echo"), .end(nil), on: channel)
        release.yield()
        #expect(try await answer(on: channel).1 == "", "the refused body was dropped, not given to the next call")
    }

    @Test func aBodyPastTheBudgetOrTheLimitIsRefusedAndItsChargeGivenBack() async throws {
        let channel = try await channel()
        let big = ByteBuffer(repeating: 0x61, count: 40)
        try await send(invoke("echo"), .body(big), on: channel)
        #expect(try await answer(on: channel).0.status == .contentTooLarge)
        try await send(.end(nil), on: channel)
        #expect(budget.bytesHeld == 0)
        try budget.charge(60)
        try await send(invoke("echo"), .body(ByteBuffer(repeating: 0x61, count: 8)), on: channel)
        let (head, body) = try await answer(on: channel)
        #expect(head.status == .serviceUnavailable && body.contains("Busy") && head.headerFields[.retryAfter] == "1")
        budget.giveBack(60)
        #expect(budget.bytesHeld == 0)
    }

    @Test func aClosedConnectionGivesBackTheBodyBeingRead() async throws {
        let channel = try await channel()
        try await send(invoke("echo"), .body(ByteBuffer(string: "partial")), on: channel)
        #expect(budget.bytesHeld == 7)
        try await channel.close()
        #expect(budget.bytesHeld == 0)
    }

    @Test func aHalfCloseOrAnErrorReadDuringACallWaitsForItsAnswer() async throws {
        let channel = try await channel()
        let events = QuiesceRecorder()
        try await add(to: channel) { _ in [events] }
        try await send(invoke("echo"), .end(nil), on: channel)
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        channel.pipeline.fireErrorCaught(CancellationError())  // a malformed request, say
        await channel.testingEventLoop.run()
        #expect(events.seen.isEmpty, "Hummingbird would close the connection before the answer")
        release.yield()
        _ = try await answer(on: channel)
        await channel.testingEventLoop.run()
        #expect(events.seen == ["inputClosed", "error"])
    }

    @Test func aRequestCutShortByAnErrorDuringACallIsGivenUpAfterTheAnswer() async throws {
        let channel = try await channel()
        let events = QuiesceRecorder()
        try await add(to: channel) { _ in [events] }
        try await send(invoke("echo"), .end(nil), invoke("echo"), .body(ByteBuffer(string: "cut")), on: channel)
        channel.pipeline.fireErrorCaught(CancellationError())  // a malformed chunk, say
        release.yield()
        _ = try await answer(on: channel)
        await channel.testingEventLoop.run()
        #expect(events.seen == ["error"], "Hummingbird answers the error once the first call is answered")
        #expect(budget.bytesHeld == 0)
    }

    @Test func theConnectionIsNotReadWhileTheClientTakesNothingOrTenPartsWait() async throws {
        let counter = ReadCounter()
        let channel = NIOAsyncTestingChannel()
        try await add(to: channel) { [counter, InvokeFastPath(steps: $0)] }
        channel.isWritable = false
        channel.read()
        await channel.testingEventLoop.run()
        #expect(counter.reads == 0, "the client takes nothing of what is written")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        await channel.testingEventLoop.run()
        #expect(counter.reads == 1, "it takes again: reading goes on")
        try await send(invoke("echo"), .end(nil), on: channel)
        for _ in 0..<5 { try await send(healthz, .end(nil), on: channel) }
        channel.read()
        await channel.testingEventLoop.run()
        #expect(counter.reads == 1, "ten parts wait for the call")
        release.yield()
        _ = try await answer(on: channel)
        await channel.testingEventLoop.run()
        #expect(counter.reads == 2, "then reading goes on")
    }

    @Test func aQuiesceWaitsForTheCallsAnswer() async throws {
        let channel = try await channel()
        let events = QuiesceRecorder()
        try await add(to: channel) { _ in [events] }
        try await send(invoke("echo"), .end(nil), on: channel)
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        await channel.testingEventLoop.run()
        #expect(events.count == 0, "not passed on while the call is owed")
        release.yield()
        _ = try await answer(on: channel)
        await channel.testingEventLoop.run()
        #expect(events.count == 1)
    }
}

/// What reaches the end of the pipeline: quiesces, and every event and error in order.
private final class QuiesceRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPRequestPart
    var count = 0
    var seen: [String] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent { count += 1 }
        seen.append("\(event)")
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        seen.append("error")
    }
}

/// Counts the reads asked of the socket, at the head of the pipeline.
private final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = Never
    var reads = 0

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}
