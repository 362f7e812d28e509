import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes
import PyHostCore

/// Invocations answered on the connection's event loop, beside Hummingbird.
///
/// Hummingbird's request and response types, router, middleware chain and async channel cost the
/// server more CPU per call than the rest of a warm call (docs/benchmarks.md). This handler takes
/// the invocations a program sends (`POST /functions/{name}/invoke` or
/// `/functions/{name}/versions/{n}/invoke`, with a valid name, when nothing else is in progress on
/// the connection) and makes them with the route's own steps (`InvocationSteps`: the same checks,
/// body budget, answers, errors and metrics). Everything else goes to Hummingbird as it came:
/// requests from browser pages (`Origin` or `Sec-Fetch-Site`, for CORS and the browser guard),
/// `Expect`, `Connection` other than keep-alive, a `Host` the browser guard refuses, and every
/// request read while Hummingbird still owes an answer on the connection. Requests read while a
/// call is in progress wait until it is answered, and so do the events and errors read meanwhile
/// (the client's half-close, a malformed request, the server stopping): answers keep the order of
/// requests. As Hummingbird's async channel does, the connection is not read further while
/// `maximumWaiting` parts wait or while the client does not take what is written to it.
final class InvokeFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        case idle
        /// A request of ours whose body is arriving, charged to the body budget as it comes.
        case reading(Call, body: ByteBuffer?, charged: Int)
        /// A request of ours refused from its head: the answer goes out at the request's end or
        /// at the end of this read, whichever comes first, as Hummingbird's would.
        case refused(Answer, Call)
        /// A request of ours answered before its end: the rest of its body is dropped.
        case dropping
        /// A request of ours being made.
        case calling
    }

    /// A request taken, with what makes it once its body is in.
    private struct Call {
        let finish: @Sendable (ByteBuffer) async throws -> Response
        let route: String
        let started: NIODeadline
    }

    private let steps: InvocationSteps
    private var state = State.idle
    /// Requests passed to Hummingbird whose answers have not ended.
    private var routedOn = 0
    /// Parts read while a call was in progress, in order.
    private var waiting: [HTTPRequestPart] = []
    /// Events and errors read while this handler owed an answer, passed on once it owes none.
    private var heldEvents: [Held] = []
    private var readHeld = false

    private enum Held {
        case event(Any)
        case error(any Error)
    }

    /// Parts that may wait during a call before the connection is no longer read: Hummingbird's
    /// async channel's high watermark.
    static let maximumWaiting = 10

    init(steps: InvocationSteps) {
        self.steps = steps
    }

    private var isCalling: Bool {
        if case .calling = state { return true }
        return false
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if isCalling || !waiting.isEmpty {
            waiting.append(part)
        } else {
            take(part, context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .refused(let answer, let call) = state {
            state = .dropping
            write(answer, call: call, context: context)
            releaseHeld(context: context)
        }
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Only Hummingbird's answers pass here; this handler's own go on toward the socket.
        if case .end = unwrapOutboundIn(data) { routedOn = max(0, routedOn - 1) }
        context.write(data, promise: promise)
    }

    func read(context: ChannelHandlerContext) {
        if waiting.count >= Self.maximumWaiting || !context.channel.isWritable {
            readHeld = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        releaseRead(context: context)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Hummingbird would close a connection it owes nothing on, when the server stops or the
        // client half-closes: this request's answer goes first.
        if !owesAnswer && heldEvents.isEmpty {
            context.fireUserInboundEventTriggered(event)
        } else {
            heldEvents.append(.event(event))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case .reading = state {
            // This request cannot end: Hummingbird answers the error (a malformed body) and closes.
            abandon()
        }
        // Hummingbird answers a malformed request, and closes: after the answer this handler owes.
        if !owesAnswer && heldEvents.isEmpty {
            context.fireErrorCaught(error)
        } else {
            heldEvents.append(.error(error))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        abandon()
        heldEvents = []
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        abandon()
    }

    /// Whether a request of this handler's has not been answered yet.
    private var owesAnswer: Bool {
        switch state {
        case .reading, .refused, .calling: return true
        case .idle, .dropping: return false
        }
    }

    /// The connection is gone: a body being read is given back; a call in progress finishes and
    /// gives back its own.
    private func abandon() {
        switch state {
        case .reading(_, _, let charged):
            steps.bodies.giveBack(charged)
            HTTPMetrics.abandoned()
        case .refused:
            HTTPMetrics.abandoned()
        case .idle, .dropping, .calling:
            break
        }
        if !isCalling { state = .idle }
        waiting = []
    }

    /// One part, outside a call.
    private func take(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch (state, part) {
        case (.idle, .head(let head)):
            guard routedOn == 0, let target = steps.target(of: head) else {
                routedOn += 1
                return context.fireChannelRead(wrapInboundOut(part))
            }
            let request = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
            HTTPMetrics.began()
            let refusal = Call(finish: { _ in Response(status: .noContent) }, route: target.route, started: .now())
            do {
                let finish = try steps.begin(request, target.name, target.version)
                state = .reading(Call(finish: finish, route: target.route, started: refusal.started), body: nil, charged: 0)
            } catch {
                state = .refused(steps.answer(for: error), refusal)
            }
        case (.idle, _):
            // The body and end of a request passed to Hummingbird.
            context.fireChannelRead(wrapInboundOut(part))
        case (.reading(let call, var body, var charged), .body(let chunk)):
            state = .calling  // the body is held here meanwhile, not in two places
            do {
                try steps.bodies.charge(chunk.readableBytes)
                charged += chunk.readableBytes
                guard (body?.readableBytes ?? 0) + chunk.readableBytes <= steps.maximumBodyBytes else {
                    throw HostError.requestTooLarge(limit: steps.maximumBodyBytes)
                }
                if body == nil { body = chunk } else { body!.writeImmutableBuffer(chunk) }
                state = .reading(call, body: body, charged: charged)
            } catch {
                steps.bodies.giveBack(charged)
                state = .dropping
                write(steps.answer(for: error), call: call, context: context)
                releaseHeld(context: context)
            }
        case (.reading(let call, let body, let charged), .end):
            state = .calling
            make(call, body: body ?? ByteBuffer(), charged: charged, context: context)
        case (.refused(let answer, let call), .end):
            state = .idle
            write(answer, call: call, context: context)
            releaseHeld(context: context)
        case (.dropping, .end):
            state = .idle
            releaseHeld(context: context)
        case (.refused, _), (.dropping, _), (.reading, .head), (.calling, _):
            // A refused request's body is dropped; the parser ends a request before the next head.
            break
        }
    }

    /// Makes the call in a task and answers it back on the event loop.
    private func make(_ call: Call, body: ByteBuffer, charged: Int, context: ChannelHandlerContext) {
        let handler = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let steps = self.steps
        let answered = context.eventLoop.makePromise(of: Answer.self)
        answered.completeWithTask {
            do {
                return try await Answer(try await call.finish(body))
            } catch {
                return steps.answer(for: error)
            }
        }
        answered.futureResult.whenComplete { result in
            steps.bodies.giveBack(charged)
            let (handler, context) = handler.value
            handler.state = .idle
            let answer: Answer
            switch result {
            case .success(let made): answer = made
            case .failure(let error): answer = steps.answer(for: error)
            }
            handler.write(answer, call: call, context: context)
            handler.resume(context: context)
        }
    }

    private func write(_ answer: Answer, call: Call, context: ChannelHandlerContext) {
        var fields = answer.head.headerFields
        fields[.date] = HTTPDate.now
        fields[.server] = steps.serverName
        context.write(wrapOutboundOut(.head(HTTPResponse(status: answer.head.status, headerFields: fields))), promise: nil)
        if answer.body.readableBytes > 0 { context.write(wrapOutboundOut(.body(answer.body)), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        HTTPMetrics.answered(route: call.route, status: answer.head.status, after: NIODeadline.now() - call.started)
    }

    /// Passes on the events and errors held back while this handler owed an answer, once it owes none.
    private func releaseHeld(context: ChannelHandlerContext) {
        if case .reading = state, heldEvents.contains(where: { if case .error = $0 { true } else { false } }) {
            // The parser failed after this request's head: its end will never come.
            abandon()
        }
        guard !owesAnswer else { return }
        let held = heldEvents
        heldEvents = []
        for item in held {
            switch item {
            case .event(let event): context.fireUserInboundEventTriggered(event)
            case .error(let error): context.fireErrorCaught(error)
            }
        }
    }

    /// Reads again, if reading was held and nothing holds it now.
    private func releaseRead(context: ChannelHandlerContext) {
        guard readHeld, waiting.count < Self.maximumWaiting, context.channel.isWritable else { return }
        readHeld = false
        context.read()
    }

    /// After an answer: the parts that waited, then the events held back, then reading.
    private func resume(context: ChannelHandlerContext) {
        var parts = waiting
        waiting = []
        while !parts.isEmpty && !isCalling {
            take(parts.removeFirst(), context: context)
        }
        waiting = parts + waiting
        if isCalling { return }
        // Parts handed on, or a refusal waiting for the end of a read that has already ended.
        channelReadComplete(context: context)
        releaseHeld(context: context)
        releaseRead(context: context)
    }
}

/// A response's head and its whole body.
struct Answer: Sendable {
    let head: HTTPResponse
    let body: ByteBuffer

    init(head: HTTPResponse, body: ByteBuffer) {
        self.head = head
        self.body = body
    }

    init(_ response: Response) async throws {
        let collected = CollectedBody()
        try await response.body.write(collected)
        self.init(head: response.head, body: collected.bytes ?? ByteBuffer())
    }
}

/// A response body writer that keeps what is written.
private final class CollectedBody: ResponseBodyWriter {
    var bytes: ByteBuffer?

    func write(_ buffer: ByteBuffer) async throws {
        if bytes == nil { bytes = buffer } else { bytes!.writeImmutableBuffer(buffer) }
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
