import Foundation
import Hummingbird
import Metrics
import NIOCore
import PyHostCore
import Synchronization

/// Invoker keys, each function's access, and the audit trail: configurator routes (the deploy
/// token once one is set), and the check every invocation passes.
extension FunctionRoutes {
    @Sendable func keys(_ request: Request, context: Context) async throws -> Response {
        try deployToken?.authorize(request)
        return try .json(KeyListPayload(keys: host.invokerKeys().map(KeyPayload.init)))
    }

    @Sendable func createKey(_ request: Request, context: Context) async throws -> Response {
        try deployToken?.authorize(request)
        let wanted: KeyRequest = try await decodeBody(request, fields: ["functions", "rate_per_second"])
        if let functions = wanted.functions {
            guard !functions.isEmpty else { throw HostError.invalidBody("functions: name at least one function, or leave it out for all") }
            for name in functions { try FunctionName.validate(name) }
        }
        let rate = try Self.rate(wanted.rate_per_second)
        let (key, secret) = try await host.createKey(
            functions: wanted.functions.map { Array(Set($0)).sorted() }, ratePerSecond: rate, by: actor(request))
        return try .json(status: .created, CreatedKeyPayload(key, secret: secret))
    }

    @Sendable func revokeKey(_ request: Request, context: Context) async throws -> Response {
        try deployToken?.authorize(request)
        let id = try context.parameters.require("id")
        try await host.revokeKey(id: id, by: actor(request))
        return Response(status: .noContent)
    }

    @Sendable func access(_ request: Request, context: Context) async throws -> Response {
        let name = try context.parameters.require("name")
        _ = try host.function(named: name)
        return try .json(AccessPayload(host.access(of: name)))
    }

    @Sendable func setAccess(_ request: Request, context: Context) async throws -> Response {
        try deployToken?.authorize(request)
        let name = try context.parameters.require("name")
        _ = try host.function(named: name)
        let wanted: AccessPayload = try await decodeBody(request, fields: ["access", "rate_per_second", "allowed_origins"])
        guard ["private", "public"].contains(wanted.access) else {
            throw HostError.invalidBody("access: must be \"private\" or \"public\", not \"\(wanted.access)\"")
        }
        let access = FunctionAccess(
            isPrivate: wanted.access == "private", ratePerSecond: try Self.rate(wanted.rate_per_second),
            allowedOrigins: try CrossOrigin.validated(wanted.allowed_origins ?? []))
        try await host.setAccess(access, of: name, by: actor(request))
        return try .json(AccessPayload(access))
    }

    @Sendable func audit(_ request: Request, context: Context) async throws -> Response {
        try deployToken?.authorize(request)
        var limit = 100
        if let raw = request.uri.queryParameters["limit"] {
            guard let value = Int(String(raw)), (1...1000).contains(value) else {
                throw HostError.invalidParameter(name: "limit", reason: "must be a whole number in 1...1000, not \"\(raw)\"")
            }
            limit = value
        }
        return try .json(AuditPayload(try await host.auditTrail(limit: limit)))
    }

    /// Who makes a change, as the audit trail records it: `token`, or `anonymous` where no token is required.
    func actor(_ request: Request) -> String {
        deployToken?.accepts(request.headers) == true ? "token" : "anonymous"
    }

    /// The invoker key a request presents: an `Authorization: Bearer pyk_…` value. Another bearer
    /// value is left to the handler, for a public function that checks its own.
    static func invokerKey(in headers: HTTPFields) -> String? {
        BearerCredential.first(in: headers) { $0.utf8.starts(with: InvokerKey.prefix.utf8) }.map(String.init)
    }

    /// What a call presents, read from its headers once: whether the deploy token came, and the
    /// invoker key.
    struct Caller {
        let isConfigurator: Bool
        let key: String?

        init(_ request: Request, token: DeployToken?) {
            isConfigurator = token?.accepts(request.headers) ?? false
            key = FunctionRoutes.invokerKey(in: request.headers)
        }
    }

    /// Whether `caller` may call `name` (at `version`, with the `?logs=true` envelope when asked):
    /// a version that no longer serves may be the one a fix replaced, and what a handler printed
    /// is the configurator's to read, so both need the token; then the function's access.
    /// `spending`: the call goes ahead now, so it takes from the rate limits and is counted in
    /// /metrics by key id (never the key itself).
    func authorizeCall(by caller: Caller, of name: String, version: Int?, envelope: Bool, spending: Bool) throws {
        let serving = try host.function(named: name).version
        if deployToken != nil, !caller.isConfigurator, envelope || version.map({ $0 != serving }) == true {
            throw DeployToken.unauthorized
        }
        do {
            if let id = try host.authorizeInvocation(of: name, key: caller.key, configurator: caller.isConfigurator, spending: spending),
                spending
            {
                CallerMetrics.invocation(by: id)
            }
        } catch HostError.rateLimited(let limit, let keyID, let retryAfter) {
            CallerMetrics.rateLimited(name, by: keyID)
            throw HostError.rateLimited(limit: limit, keyID: keyID, retryAfterSeconds: retryAfter)
        }
    }

    /// A JSON object body with only `fields`, decoded.
    /// - Throws: `HostError.invalidBody` naming what is wrong.
    private func decodeBody<T: Decodable>(_ request: Request, fields: Set<String>) async throws -> T {
        let data = try await bodies.withBody(of: request, upTo: 64 * 1024, tooLarge: .invalidBody("the body may be at most 64 KiB")) {
            Data(buffer: $0)
        }
        guard let object = try? JSONSerialization.jsonObject(with: data.isEmpty ? Data("{}".utf8) : data) as? [String: Any] else {
            throw HostError.invalidBody("the body must be a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { !fields.contains($0) }) {
            throw HostError.invalidBody("\(unknown): unknown; this route takes \(fields.sorted().joined(separator: ", "))")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data.isEmpty ? Data("{}".utf8) : data)
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            throw HostError.invalidBody("\(context.codingPath.map(\.stringValue).joined(separator: ".")): has the wrong type")
        } catch DecodingError.keyNotFound(let key, _) {
            throw HostError.invalidBody("\(key.stringValue): required")
        } catch {
            throw HostError.invalidBody("the body must be a JSON object")
        }
    }

    private static func rate(_ value: Double?) throws -> Double? {
        guard let value else { return nil }
        guard value.isFinite, value >= 0.001, value <= 100_000 else {
            throw HostError.invalidBody("rate_per_second: must be a number of calls per second from 0.001 to 100000")
        }
        return value
    }
}

/// Calls by key id and refusals by rate limit, for /metrics; handles kept, as for invocations.
enum CallerMetrics {
    private static let keyCounts = Mutex<[String: Metrics.Counter]>([:])

    static func invocation(by keyID: String) {
        let counter = keyCounts.withLock { counts in
            if let counter = counts[keyID] { return counter }
            let counter = Metrics.Counter(label: "pyhost_key_invocations_total", dimensions: [("key", keyID)])
            counts[keyID] = counter
            return counter
        }
        counter.increment()
    }

    static func rateLimited(_ function: String, by keyID: String?) {
        Metrics.Counter(label: "pyhost_rate_limited_total", dimensions: [("function", function), ("key", keyID ?? "")]).increment()
    }
}
