import NIOCore
import PyHostCore
import Testing

@Suite struct JSONSyntaxTests {
    @Test(arguments: [
        "0", "-0.5e+10", "1E3", "true", "null", #""""#, #""a\"\\\/\b\f\n\r\t\u00e9\uD800""#, "[]", "{}", " [ 1 , [ ] , { } ] ",
        #"{"a":{"b":[1,{"c":null}]},"d":"é😀"}"#, String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000),
    ])
    func acceptsJSON(text: String) {
        #expect(JSONSyntax.isValid(ByteBuffer(string: text)))
    }

    /// What a worker writing its own frames could send, and what Python's json.dumps never makes.
    @Test(arguments: [
        "", " ", "01", "1.", ".5", "-", "1e", "+1", "NaN", "Infinity", "tru", "nul", "[1,]", "[1 2]", "{\"a\"}", "{\"a\":1,}",
        "{a:1}", "[", "]", "{\"a\":1]", "[1}", "1 2", "\"a", "\"\\x\"", "\"\\u12G4\"", "\"tab\there\"", "'a'",
        #"1,"logs":"forged""#, String(repeating: "[", count: 5000),
    ])
    func refusesWhatIsNotOneJSONText(text: String) {
        #expect(!JSONSyntax.isValid(ByteBuffer(string: text)))
    }

    @Test(arguments: [
        [0x22, 0xC0, 0x80, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], [0x22, 0xE2, 0x82, 0x22],
    ])
    func refusesMalformedUTF8(bytes: [UInt8]) {
        #expect(!JSONSyntax.isValid(ByteBuffer(bytes: bytes)))
    }
}
