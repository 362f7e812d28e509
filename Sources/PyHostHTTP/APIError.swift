import Foundation
import Hummingbird

/// An error as the API returns it: a status, and `{"error": {"type", "message", …fields}}`.
public struct APIError: HTTPResponseError, Equatable {
    public enum Field: Equatable, Sendable, Encodable {
        case int(Int)
        case string(String)

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .int(let value): try container.encode(value)
            case .string(let value): try container.encode(value)
            }
        }
    }

    public let status: HTTPResponse.Status
    public let type: String
    public let message: String
    public var fields: [String: Field] = [:]
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, type: String, message: String, fields: [String: Field] = [:], headers: HTTPFields = [:]) {
        self.status = status
        self.type = type
        self.message = message
        self.fields = fields
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = Response.json(status: status, body: try body())
        response.headers.append(contentsOf: headers)
        return response
    }

    /// The JSON body.
    public func body() throws -> ByteBuffer {
        var object: [String: Field] = fields
        object["type"] = .string(type)
        object["message"] = .string(message)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ByteBuffer(data: try encoder.encode(["error": object]))
    }
}

extension Response {
    /// A response whose body is JSON bytes, passed through as they are.
    static func json(status: HTTPResponse.Status, body: ByteBuffer, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: body))
    }

    /// A response whose body is `value` encoded as JSON.
    static func json(status: HTTPResponse.Status = .ok, _ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return json(status: status, body: ByteBuffer(data: try encoder.encode(value)))
    }
}
