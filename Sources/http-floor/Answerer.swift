import NIOCore
import NIOHTTP1

/// Answers each request once its body is in: a fixed body, or what a relayed process returns.
final class Answerer: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private static let fixed = ByteBuffer(string: #"{"message": "Hello, Hugues!"}"#)
    private let relay: Relay?
    private var frame = ByteBuffer()

    init(relay: Relay?) {
        self.relay = relay
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            frame.clear()
            frame.writeString(String(head.uri.drop(while: { $0 == "/" })) + "\n")
        case .body(var chunk):
            frame.writeBuffer(&chunk)
        case .end:
            guard let relay else { return answer(Self.fixed, context: context) }
            let promise = context.eventLoop.makePromise(of: ByteBuffer.self)
            relay.call(frame, promise: promise)
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { body in
                let (handler, context) = bound.value
                handler.answer(body, context: context)
            }
        }
    }

    private func answer(_ body: ByteBuffer, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
