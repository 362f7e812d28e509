import Foundation
import HTTPTypes
import NIOCore
import PyHostCore

/// A worker's `response` frame, checked: the worker runs the user's code, so its status and
/// headers are validated here again, whatever the Python side already refused.
struct HandlerAnswer {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: ByteBuffer

    /// Headers that describe the connection (RFC 9110 §7.6.1) or that the server writes itself.
    static let forbidden: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
        "trailer", "transfer-encoding", "upgrade", "content-length", "pyhost-worker", "pyhost-invocation-id",
    ]

    private struct Line: Decodable {
        let status: Int
        let headers: [[String]]
    }

    /// - Throws: `HostError.protocolViolation` naming what is wrong.
    init(frame payload: ByteBuffer) throws {
        var payload = payload
        guard let newline = payload.readableBytesView.firstIndex(of: UInt8(ascii: "\n")),
            let head = payload.readSlice(length: newline - payload.readerIndex),
            let line = try? JSONDecoder().decode(Line.self, from: Data(buffer: head))
        else { throw HostError.protocolViolation("the worker's response frame has no valid status line") }
        payload.moveReaderIndex(forwardBy: 1)
        guard (200...599).contains(line.status) else {
            throw HostError.protocolViolation("the handler's status \(line.status) is outside 200–599")
        }
        var headers = HTTPFields()
        for pair in line.headers {
            guard pair.count == 2, let name = HTTPField.Name(pair[0]), !Self.forbidden.contains(name.canonicalName),
                HTTPField.isValidValue(pair[1]), !pair[1].contains(where: { $0 == "\r" || $0 == "\n" })
            else {
                throw HostError.protocolViolation("the handler's header \(pair.first.map { "\"\($0)\"" } ?? "") is not allowed")
            }
            headers.append(HTTPField(name: name, value: pair[1]))
        }
        // The runtime always names the body's type; without one the server could only guess.
        guard headers[.contentType] != nil else { throw HostError.protocolViolation("the worker's response frame has no Content-Type") }
        status = HTTPResponse.Status(code: line.status)
        self.headers = headers
        body = payload
    }

    /// Whether the body is JSON (`application/json` or a `+json` type).
    var isJSON: Bool {
        let type =
            (headers[.contentType] ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return type == "application/json" || type.hasSuffix("+json")
    }
}
