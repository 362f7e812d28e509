import Foundation
import NIOCore

/// What an invocation produced. The handler raising is an outcome of the call, not a host failure.
public enum InvocationOutcome: Sendable {
    /// The handler's result, as JSON bytes.
    case returned(ByteBuffer)
    /// The handler raised, or returned what JSON cannot hold; the payload is the error body.
    case raised(ByteBuffer)
    /// The request body cannot be decoded (JSON, CSV, NDJSON); the payload is the error body.
    case badRequest(ByteBuffer)
    /// The handler chose a status or headers, or the caller asked for CSV: the worker's frame as
    /// it sent it, a JSON line of status and headers and then the body, not yet checked.
    case responded(ByteBuffer)
    /// The caller's Accept header asks for a form the result has none of; the error body.
    case notAcceptable(ByteBuffer)
}

/// An invocation's outcome, and what else a caller may want to know of it.
public struct Invocation: Sendable {
    public let outcome: InvocationOutcome
    /// The worker's pid on the host (inside its sandbox it is pid 1).
    public let workerPID: Int32
    public let id: String
    public let version: Int
    /// The version's `FunctionVersion.instance`, which a version number deleted and deployed again does not share.
    public let instance: String
    /// What the handler printed or logged during the call, if anything.
    public let logs: ByteBuffer?
    public let startedAt: Date
    public let milliseconds: Double
}

/// What a deploy produced.
public enum DeployOutcome: Sendable {
    case deployed(FunctionVersion)
    /// The module does not compile; the payload is the error body with `line` and `offset`.
    case syntaxError(ByteBuffer)
    /// Importing the module raised, or it has no callable `handle`; the payload is the error body.
    case importFailed(ByteBuffer)
}
