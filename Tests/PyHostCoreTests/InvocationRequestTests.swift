import Foundation
import NIOCore
import PyHostWire
import Testing

@testable import PyHostCore

/// The invoke frame's tag, then two JSON lines that decode to what the caller sent, whatever its
/// text holds.
@Suite struct InvocationRequestTests {
    @Test func thePayloadIsTheTagTwoJSONLinesThenTheBody() throws {
        let function = FunctionVersion(
            name: "f", version: 3, source: "", sha256: "", instance: "i3", createdAt: Date(), timeoutSeconds: nil, memoryMiB: nil,
            concurrency: nil, minWarm: 0, requirements: nil)
        let odd = "quote\" backslash\\ newline\n tab\t bell\u{07} é 😀"
        let request = InvocationRequest(
            body: ByteBuffer(string: "a,b\n1,2\n"), contentType: "text/csv", accept: odd,
            headers: [("x-odd", odd)], query: [("q", odd), ("q", "last")])
        let id = "0123456789abcdef"
        let payload = request.payload(id: id, function: function, timeout: .seconds(2))
        let tagged = String(buffer: payload).split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false)
        #expect(tagged[0] == id && tagged[0].utf8.count + 1 == Frame.callTagBytes)
        let lines = Array(tagged.dropFirst())
        let meta = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(meta["id"] as? String == id)
        #expect(meta["function"] as? String == "f")
        #expect(meta["version"] as? Int == 3)
        #expect(meta["timeout"] as? Double == 2)
        #expect(meta["content_type"] as? String == "text/csv")
        #expect(meta["accept"] as? String == odd)
        let http = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: [String: String]])
        #expect(http["headers"] == ["x-odd": odd])
        #expect(lines[2] == "a,b\n1,2\n")
    }
}
