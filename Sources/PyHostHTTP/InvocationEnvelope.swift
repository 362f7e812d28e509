import Foundation
import Hummingbird
import NIOCore
import PyHostCore

/// How an invocation's answer is written: the handler's answer as it is, or with `?logs=true` an
/// envelope `{"result", "error", "logs", "invocation_id", "version"}` under the same status.
///
/// Nothing the worker sent is decoded and re-encoded as JSON: results and error objects are
/// spliced in as bytes, so any string the handler saw (a lone surrogate `"\ud800"` included)
/// passes, and only text the server made itself is encoded here.
enum InvocationEnvelope {
    /// Whether the query asks for the envelope; the other parameters are the handler's.
    /// - Throws: `HostError.invalidParameter` for `logs` other than `true|false`.
    static func wanted(_ query: Parameters) throws -> Bool {
        switch query["logs"].map(String.init) {
        case nil, "false": return false
        case "true": return true
        case let other?: throw HostError.invalidParameter(name: "logs", reason: "must be true or false, not \"\(other)\"")
        }
    }

    /// - Throws: `HostError.protocolViolation` when the worker's status or headers are not allowed.
    static func response(_ invocation: Invocation, envelope: Bool) throws -> Response {
        var headers: HTTPFields = [.pyhostWorker: String(invocation.workerPID), .pyhostInvocationID: invocation.id]
        var status = invocation.outcome.status
        var body = invocation.outcome.body
        var isJSON = true
        if case .responded(let payload) = invocation.outcome {
            let answer = try HandlerAnswer(frame: payload)
            (status, body, isJSON) = (answer.status, answer.body, answer.isJSON)
            headers.append(contentsOf: answer.headers)
        }
        guard envelope else {
            if headers[.contentType] == nil { headers[.contentType] = "application/json" }
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body))
        }
        var result = ByteBuffer()
        switch invocation.outcome {
        case .returned, .responded:
            result.writeString(#"{"result":"#)
            if isJSON && JSONSyntax.isValid(body) {
                result.writeBuffer(&body)
            } else {
                result.writeString(InvocationRequest.quoted(String(buffer: body)))
            }
            result.writeString(#","error":null"#)
        case .raised, .badRequest, .notAcceptable:
            result.writeString(#"{"result":null,"error":"#)
            var error = errorObject(body)
            result.writeBuffer(&error)
        }
        result.writeString(#","logs":"# + InvocationRequest.quoted(invocation.logs.map { String(buffer: $0) } ?? ""))
        result.writeString(#","invocation_id":"# + InvocationRequest.quoted(invocation.id) + #","version":\#(invocation.version)}"#)
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: result))
    }

    /// The worker writes an error body as `{"error": OBJECT}`; OBJECT, or the whole body when it
    /// is not written so. The slice must be one JSON value by itself: a body such as
    /// `{"error": {…},"result":…}` would otherwise splice its own fields into the envelope.
    static func errorObject(_ body: ByteBuffer) -> ByteBuffer {
        let prefix = #"{"error": "#.utf8
        let bytes = body.readableBytesView
        guard bytes.starts(with: prefix), bytes.count > prefix.count, bytes.last == UInt8(ascii: "}"),
            let object = body.getSlice(at: body.readerIndex + prefix.count, length: bytes.count - prefix.count - 1),
            JSONSyntax.isValid(object)
        else { return body }
        return object
    }
}

extension InvocationOutcome {
    var body: ByteBuffer {
        switch self {
        case .returned(let body), .raised(let body), .badRequest(let body), .responded(let body), .notAcceptable(let body):
            return body
        }
    }
}

extension InvocationRecord {
    init(_ invocation: Invocation, status: Int) {
        self.init(
            id: invocation.id, version: invocation.version, instance: invocation.instance, startedAt: invocation.startedAt,
            milliseconds: invocation.milliseconds, status: status, logs: invocation.logs.map { String(buffer: $0) } ?? "")
    }

    init(_ failure: InvocationFailure, status: Int) {
        self.init(
            id: failure.id, version: failure.version, instance: failure.instance, startedAt: failure.startedAt,
            milliseconds: failure.milliseconds, status: status, logs: "")
    }
}
