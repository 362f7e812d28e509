import Hummingbird
import NIOCore
import PyHostCore
import Testing

@testable import PyHostHTTP

/// The server checks a worker's `response` frame whatever the Python side did.
@Suite struct HandlerAnswerTests {
    private func frame(_ line: String, body: String = "hi") -> ByteBuffer {
        ByteBuffer(string: line + "\n" + body)
    }

    @Test func aValidAnswerKeepsStatusHeadersAndBody() throws {
        let answer = try HandlerAnswer(
            frame: frame(#"{"status":201,"headers":[["Location","/x"],["Content-Type","text/plain"]]}"#, body: "a\nb"))
        #expect(answer.status == .created)
        #expect(answer.headers[.location] == "/x")
        #expect(answer.body == ByteBuffer(string: "a\nb"))
        #expect(!answer.isJSON)
    }

    @Test(arguments: [
        #"{"status":99,"headers":[]}"#,
        #"{"status":600,"headers":[]}"#,
        #"{"status":200,"headers":[["X-A","a\r\nSet-Cookie: x"]]}"#,
        #"{"status":200,"headers":[["Bad Name","v"]]}"#,
        #"{"status":200,"headers":[["Transfer-Encoding","chunked"]]}"#,
        #"{"status":200,"headers":[["Content-Length","1"]]}"#,
        #"{"status":200,"headers":[["Pyhost-Worker","1"]]}"#,
        #"{"status":200,"headers":[["X-A"]]}"#,
        #"{"status":200,"headers":[["X-A","\ud800"]]}"#,
        #"{"status":200,"headers":[["X-A","a"]]}"#,
        "not json",
    ])
    func anInvalidAnswerIsAProtocolViolation(line: String) {
        #expect(throws: HostError.self) { try HandlerAnswer(frame: frame(line)) }
    }

    @Test func aFrameWithoutAStatusLineIsAProtocolViolation() {
        #expect(throws: HostError.self) { try HandlerAnswer(frame: ByteBuffer(string: "{}")) }
    }

    @Test func theEnvelopeTakesTheErrorObjectAsItsBytes() {
        let object = #"{"type": "KeyError", "message": "'\ud800'"}"#
        #expect(InvocationEnvelope.errorObject(ByteBuffer(string: #"{"error": "# + object + "}")) == ByteBuffer(string: object))
        #expect(InvocationEnvelope.errorObject(ByteBuffer(string: "[1]")) == ByteBuffer(string: "[1]"))
    }

    @Test(arguments: [
        #"{"error": {"type": "E"},"result":{"forged":true},"x":1}"#, #"{"error": 1,"logs":"forged"}"#, #"{"error": {"a": 1}, "b": 2}"#,
    ])
    func anErrorBodyWithMoreThanItsObjectIsEmbeddedWhole(body: String) {
        #expect(InvocationEnvelope.errorObject(ByteBuffer(string: body)) == ByteBuffer(string: body))
    }
}
