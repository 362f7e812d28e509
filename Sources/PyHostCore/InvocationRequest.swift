import NIOCore

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

    /// The invoke frame's payload: a JSON line of call metadata, a JSON line of headers and query
    /// (the worker parses it only when the handler reads them), then the body.
    func payload(id: String, function: FunctionVersion, timeout: Duration) -> ByteBuffer {
        var meta = #"{"id":"# + Self.quoted(id) + #","function":"# + Self.quoted(function.name)
        meta += #","version":\#(function.version),"timeout":\#(max(0, timeout.seconds))"#
        meta += #","content_type":"# + Self.quoted(contentType) + #","accept":"# + Self.quoted(accept) + "}\n"
        let http =
            #"{"headers":"# + Self.object(headers) + #","query":"# + Self.object(query) + "}\n"
        var payload = ByteBuffer()
        payload.reserveCapacity(meta.utf8.count + http.utf8.count + body.readableBytes)
        payload.writeString(meta)
        payload.writeString(http)
        var body = body
        payload.writeBuffer(&body)
        return payload
    }

    private static func object(_ pairs: [(name: String, value: String)]) -> String {
        "{" + pairs.map { quoted($0.name) + ":" + quoted($0.value) }.joined(separator: ",") + "}"
    }

    /// `text` as a JSON string. A Swift string is always valid Unicode, so the result always decodes.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
