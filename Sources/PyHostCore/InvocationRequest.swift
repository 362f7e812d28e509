import NIOCore
import PyHostWire

/// What a caller sent to invoke a function: the body and the HTTP parts a handler may read.
public struct InvocationRequest: Sendable {
    public var body: ByteBuffer
    /// The request's Content-Type: `text/csv` and `application/x-ndjson` select those decoders, anything else JSON.
    public var contentType: String
    /// The request's Accept header: the worker answers CSV or NDJSON when it asks for them.
    public var accept: String
    /// Request headers, names in lower case; repeated ones joined with ", ".
    public var headers: [(name: String, value: String)]
    /// Query parameters for the handler, in order; the worker keeps the last of a repeated one.
    public var query: [(name: String, value: String)]

    public init(
        body: ByteBuffer, contentType: String = "application/json", accept: String = "",
        headers: [(name: String, value: String)] = [], query: [(name: String, value: String)] = []
    ) {
        self.body = body
        self.contentType = contentType
        self.accept = accept
        self.headers = headers
        self.query = query
    }

    /// The invoke frame's payload: the call's tag (see `Frame.callTagBytes`), a JSON line of call
    /// metadata, a JSON line of headers and query (the worker parses it only when the handler
    /// reads them), then the body. Written straight into one buffer: this runs on every call.
    func payload(id: String, function: FunctionVersion, timeout: Duration) -> ByteBuffer {
        var payload = ByteBuffer()
        payload.reserveCapacity(256 + body.readableBytes)
        precondition(id.utf8.count + 1 == Frame.callTagBytes, "an invocation id is 16 characters")
        payload.writeString(id)
        payload.writeStaticString("\n")
        payload.writeStaticString(#"{"id":"#)
        Self.writeQuoted(id, to: &payload)
        payload.writeStaticString(#","function":"#)
        Self.writeQuoted(function.name, to: &payload)
        payload.writeString(#","version":\#(function.version),"timeout":\#(max(0, timeout.seconds))"#)
        payload.writeStaticString(#","content_type":"#)
        Self.writeQuoted(contentType, to: &payload)
        payload.writeStaticString(#","accept":"#)
        Self.writeQuoted(accept, to: &payload)
        payload.writeStaticString("}\n{\"headers\":")
        Self.writeObject(headers, to: &payload)
        payload.writeStaticString(#","query":"#)
        Self.writeObject(query, to: &payload)
        payload.writeStaticString("}\n")
        var body = body
        payload.writeBuffer(&body)
        return payload
    }

    private static func writeObject(_ pairs: [(name: String, value: String)], to buffer: inout ByteBuffer) {
        buffer.writeStaticString("{")
        for (index, pair) in pairs.enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            writeQuoted(pair.name, to: &buffer)
            buffer.writeStaticString(":")
            writeQuoted(pair.value, to: &buffer)
        }
        buffer.writeStaticString("}")
    }

    /// `text` as a JSON string. A Swift string is always valid Unicode, so the result always decodes.
    public static func quoted(_ text: String) -> String {
        var buffer = ByteBuffer()
        writeQuoted(text, to: &buffer)
        return String(buffer: buffer)
    }

    /// Writes `text` as a JSON string; text with nothing to escape, the usual case, is copied whole.
    static func writeQuoted(_ text: String, to buffer: inout ByteBuffer) {
        buffer.writeStaticString("\"")
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            buffer.writeString(text)
        } else {
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
                case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
                case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
                case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
                case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
                case 0..<0x20:
                    buffer.writeString("\\u00" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16))
                default: buffer.writeInteger(byte)
                }
            }
        }
        buffer.writeStaticString("\"")
    }
}
