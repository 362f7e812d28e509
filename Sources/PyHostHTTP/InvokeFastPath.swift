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
        case reading(Taken, finish: Finish, body: ChargedBody)
        /// A request of ours refused from its head: the answer goes out at the request's end or
        /// at the end of this read, whichever comes first, as Hummingbird's would.
        case refused(Answer, Taken)
        /// A request of ours answered before its end: the rest of its body is dropped.
        case dropping
        /// A request of ours being made.
        case calling
    }

    /// A request taken: its route, as /metrics names it, and when its head came.
    private struct Taken {
        let route: String
        let started: NIODeadline
    }

    /// What makes a request's call once its body is in.
    private typealias Finish = @Sendable (ByteBuffer) async throws -> Response

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
        if case .refused(let answer, let taken) = state {
            state = .dropping
            write(answer, for: taken, context: context)
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
        case .reading(_, _, let body):
            body.giveBack()
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
            let taken = Taken(route: target.route, started: .now())
            do {
                let finish = try steps.begin(request, target.name, target.version)
                let body = ChargedBody(
                    budget: steps.bodies, limit: steps.maximumBodyBytes, tooLarge: .requestTooLarge(limit: steps.maximumBodyBytes))
                state = .reading(taken, finish: finish, body: body)
            } catch {
                state = .refused(steps.answer(for: error), taken)
            }
        case (.idle, _):
            // The body and end of a request passed to Hummingbird.
            context.fireChannelRead(wrapInboundOut(part))
        case (.reading(let taken, let finish, var body), .body(let chunk)):
            state = .calling  // the body is held here meanwhile, not in two places
            do {
                try body.append(chunk)
                state = .reading(taken, finish: finish, body: body)
            } catch {
                body.giveBack()
                state = .dropping
                write(steps.answer(for: error), for: taken, context: context)
                releaseHeld(context: context)
            }
        case (.reading(let taken, let finish, let body), .end):
            state = .calling
            make(finish, with: body, for: taken, context: context)
        case (.refused(let answer, let taken), .end):
            state = .idle
            write(answer, for: taken, context: context)
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
    private func make(_ finish: @escaping Finish, with body: ChargedBody, for taken: Taken, context: ChannelHandlerContext) {
        let handler = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let steps = self.steps
        let answered = context.eventLoop.makePromise(of: Answer.self)
        let bytes = body.whole
        answered.completeWithTask {
            do {
                return try await Answer(try await finish(bytes))
            } catch {
                return steps.answer(for: error)
            }
        }
        answered.futureResult.whenComplete { result in
            body.giveBack()
            let (handler, context) = handler.value
            handler.state = .idle
            let answer: Answer
            switch result {
            case .success(let made): answer = made
            case .failure(let error): answer = steps.answer(for: error)
            }
            handler.write(answer, for: taken, context: context)
            handler.resume(context: context)
        }
    }

    private func write(_ answer: Answer, for taken: Taken, context: ChannelHandlerContext) {
        var fields = answer.head.headerFields
        fields[.date] = HTTPDate.now
        fields[.server] = steps.serverName
        context.write(wrapOutboundOut(.head(HTTPResponse(status: answer.head.status, headerFields: fields))), promise: nil)
        if answer.body.readableBytes > 0 { context.write(wrapOutboundOut(.body(answer.body)), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        HTTPMetrics.answered(route: taken.route, status: answer.head.status, after: NIODeadline.now() - taken.started)
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
