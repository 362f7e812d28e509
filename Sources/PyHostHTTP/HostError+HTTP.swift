import Hummingbird
import PyHostCore

extension HostError {
    /// The one place a host failure becomes an HTTP status and error type.
    public var apiError: APIError {
        switch self {
        case .invalidName(let name):
            return APIError(
                .badRequest, type: "InvalidName",
                message: "function name \"\(name)\" must match ^[a-z][a-z0-9_-]{0,62}$")
        case .invalidParameter(let name, let reason):
            return APIError(
                .badRequest, type: "InvalidParameter", message: "query parameter \"\(name)\": \(reason)",
                fields: ["parameter": .string(name)])
        case .emptySource:
            return APIError(.badRequest, type: "EmptySource", message: "the request body must be the module's Python source")
        case .invalidUTF8Source:
            return APIError(.badRequest, type: "InvalidUTF8", message: "the module's source is not valid UTF-8")
        case .sourceTooLarge(let limit):
            return APIError(
                .contentTooLarge, type: "SourceTooLarge",
                message: "a module's source may be at most \(limit) bytes", fields: ["limit": .int(limit)])
        case .requestTooLarge(let limit):
            return APIError(
                .contentTooLarge, type: "RequestTooLarge",
                message: "a request body may be at most \(limit) bytes", fields: ["limit": .int(limit)])
        case .functionNotFound(let name):
            return APIError(.notFound, type: "FunctionNotFound", message: "no function is named \"\(name)\"")
        case .versionNotFound(let name, let version):
            return APIError(
                .notFound, type: "VersionNotFound", message: "\(name) has no version \(version)",
                fields: ["version": .int(version)])
        case .workerDied(let how):
            return APIError(.badGateway, type: "WorkerDied", message: how)
        case .sandboxViolation(let syscall):
            return APIError(
                .badGateway, type: "SandboxViolation",
                message: "the worker called \(syscall), which the sandbox forbids; it was stopped",
                fields: ["syscall": .string(syscall)])
        case .importCrashed(let how):
            return APIError(.unprocessableContent, type: "ImportCrashed", message: "importing the module ended its worker: \(how)")
        case .deadlineExceeded(let seconds):
            return APIError(
                .gatewayTimeout, type: "DeadlineExceeded",
                message: "the call did not finish within \(seconds.formatted()) s; its worker was stopped",
                fields: ["timeout_seconds": .string(seconds.formatted())])
        case .saturated(let retryAfter):
            return APIError(
                .serviceUnavailable, type: "Saturated",
                message:
                    "every worker of this function is busy and the call could not start before its deadline; retry after \(retryAfter) s",
                headers: [.retryAfter: String(retryAfter)])
        case .zygoteUnavailable(let reason):
            return APIError(
                .serviceUnavailable, type: "ZygoteUnavailable", message: reason,
                headers: [.retryAfter: "1"])
        case .protocolViolation(let detail):
            return APIError(.badGateway, type: "ProtocolViolation", message: detail)
        case .storeUnavailable(let reason):
            return APIError(.serviceUnavailable, type: "StoreUnavailable", message: reason, headers: [.retryAfter: "1"])
        case .storeFull:
            return APIError(
                .insufficientStorage, type: "StoreFull", message: "the function store's disk is full; nothing new can be stored")
        case .storeReadOnly:
            return APIError(
                .serviceUnavailable, type: "StoreReadOnly",
                message: "the function store is read-only: functions are served, but deploys, rollbacks and deletes are refused")
        case .keyRequired(let function):
            return APIError(
                .unauthorized, type: "KeyRequired",
                message: "\(function) is private: call it with the header Authorization: Bearer <invoker key>",
                headers: [.wwwAuthenticate: "Bearer"])
        case .invalidKey:
            return APIError(
                .unauthorized, type: "InvalidKey", message: "the key presented is not valid (revoked, or never made here)",
                headers: [.wwwAuthenticate: "Bearer"])
        case .keyNotAllowed(let keyID, let function):
            return APIError(
                .forbidden, type: "KeyNotAllowed", message: "key \(keyID) does not cover \(function)",
                fields: ["key_id": .string(keyID)])
        case .rateLimited(let limit, _, let retryAfter):
            return APIError(
                .tooManyRequests, type: "RateLimited", message: "the rate limit of \(limit) is spent; retry after \(retryAfter) s",
                fields: ["limit": .string(limit)], headers: [.retryAfter: String(retryAfter)])
        case .keyNotFound(let id):
            return APIError(.notFound, type: "KeyNotFound", message: "no key has the id \"\(id)\"")
        case .invalidBody(let reason):
            return APIError(.badRequest, type: "InvalidBody", message: reason)
        case .requirementsRefused(let type, let message):
            return APIError(.unprocessableContent, type: type, message: message)
        case .packagesFailedToImport(let message):
            return APIError(.unprocessableContent, type: "PackageImportFailed", message: message)
        }
    }
}

extension HTTPResponse.Status {
    /// 507: the server cannot store what the request needs it to.
    static let insufficientStorage = Self(code: 507, reasonPhrase: "Insufficient Storage")
}

extension Double {
    fileprivate func formatted() -> String {
        self == rounded() ? String(Int(self)) : String(self)
    }
}

extension InvocationOutcome {
    /// The status each outcome of a call answers with; for `responded`, the handler's own
    /// status replaces it once checked (`HandlerAnswer`).
    public var status: HTTPResponse.Status {
        switch self {
        case .returned, .responded: return .ok
        case .raised: return .internalServerError
        case .badRequest: return .badRequest
        case .notAcceptable: return .notAcceptable
        }
    }
}

extension DeployOutcome {
    /// The status each outcome of a deploy answers with.
    public var status: HTTPResponse.Status {
        switch self {
        case .deployed: return .created
        case .syntaxError: return .badRequest
        case .importFailed: return .unprocessableContent
        }
    }
}
