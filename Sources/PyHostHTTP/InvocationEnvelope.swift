import Foundation
import Hummingbird
import NIOCore
import PyHostCore

/// How an invocation's answer is written: the handler's JSON as it is, or with `?logs=true` an
/// envelope `{"result", "error", "logs", "invocation_id", "version"}` under the same status.
enum InvocationEnvelope {
    /// Whether the query asks for the envelope.
    /// - Throws: `HostError.invalidParameter` for anything but `logs=true|false`.
    static func wanted(_ query: Parameters) throws -> Bool {
        for (name, _) in query where name != "logs" {
            throw HostError.invalidParameter(name: String(name), reason: "unknown; an invocation accepts logs")
        }
        switch query["logs"].map(String.init) {
        case nil, "false": return false
        case "true": return true
        case let other?: throw HostError.invalidParameter(name: "logs", reason: "must be true or false, not \"\(other)\"")
        }
    }

    static func response(_ invocation: Invocation, envelope: Bool) throws -> Response {
        let status = HTTPResponse.Status(code: invocation.outcome.statusCode)
        let headers: HTTPFields = [
            .pyhostWorker: String(invocation.workerPID), .pyhostInvocationID: invocation.id,
        ]
        guard envelope else { return .json(status: status, body: invocation.outcome.body, headers: headers) }
        var result = ByteBuffer()
        result.writeString(#"{"result":"#)
        switch invocation.outcome {
        case .returned(var body):
            // The result's bytes go in as they are: no decoding, no re-encoding.
            result.writeBuffer(&body)
            result.writeString(#","error":null"#)
        case .raised(let body), .badRequest(let body):
            let error = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
            let inner = try JSONSerialization.data(withJSONObject: error?["error"] ?? NSNull(), options: [.fragmentsAllowed])
            result.writeString(#"null,"error":"#)
            result.writeBytes(inner)
        }
        let logs = invocation.logs.map { String(buffer: $0) } ?? ""
        let tail = try JSONSerialization.data(
            withJSONObject: ["logs": logs, "invocation_id": invocation.id, "version": invocation.version] as [String: Any])
        result.writeString(",")
        result.writeBytes(tail.dropFirst())
        return .json(status: status, body: result, headers: headers)
    }
}

extension InvocationOutcome {
    var statusCode: Int { status.code }

    var body: ByteBuffer {
        switch self {
        case .returned(let body), .raised(let body), .badRequest(let body): return body
        }
    }
}

extension InvocationRecord {
    init(_ invocation: Invocation, status: Int) {
        self.init(
            id: invocation.id, version: invocation.version, startedAt: invocation.startedAt,
            milliseconds: invocation.milliseconds, status: status, logs: invocation.logs.map { String(buffer: $0) } ?? "")
    }

    init(_ failure: InvocationFailure, status: Int) {
        self.init(
            id: failure.id, version: failure.version, startedAt: failure.startedAt,
            milliseconds: failure.milliseconds, status: status, logs: "")
    }
}
