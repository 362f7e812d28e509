import HTTPTypes
import Hummingbird
import NIOCore
import Metrics
import Prometheus
import PyHostCore
import Synchronization

/// The API's routes, each a thin translation between HTTP and `FunctionHost`.
struct FunctionRoutes<Context: RequestContext, Host: FunctionHostProtocol> {
    let host: Host
    /// When set, deploys, rollbacks and deletes require it; invocations and reads stay open.
    let deployToken: DeployToken?
    let openAPIDocument: ByteBuffer
    let metrics: PrometheusCollectorRegistry
    let bodies = RequestBodyBudget()

    func add(to router: Router<Context>) {
        for route in APIRoute.allCases {
            router.on(RouterPath(route.path), method: route.method, use: handler(for: route))
        }
    }

    private func handler(for route: APIRoute) -> @Sendable (Request, Context) async throws -> Response {
        switch route {
        case .list: return list
        case .deploy: return deploy
        case .show: return show
        case .delete: return delete
        case .invoke, .invokeVersion: return invoke
        case .versions: return versions
        case .showVersion: return showVersion
        case .rollback: return rollback
        case .logs: return logs
        case .health: return health
        case .openAPI: return openAPI
        case .metrics: return exportMetrics
        case .access: return access
        case .setAccess: return setAccess
        case .keys: return keys
        case .createKey: return createKey
        case .revokeKey: return revokeKey
        case .audit: return audit
        }
    }

    @Sendable func deploy(_ request: Request, context: Context) async throws -> Response {
        try deployToken?.authorize(request)
        let name = try context.parameters.require("name")
        try FunctionName.validate(name)
        let settings = try DeploySettings.parse(request.uri.queryParameters, within: host.configuration)
        let limit = host.configuration.maximumSourceBytes
        let isPrivate = try DeploySettings.isPrivate(request.uri.queryParameters)
        let outcome = try await bodies.withBody(of: request, upTo: limit, tooLarge: .sourceTooLarge(limit: limit)) { body in
            try await host.deploy(name: name, body: body, settings: settings, isPrivate: isPrivate, by: actor(request))
        }
        switch outcome {
        case .deployed(let function):
            return try .json(status: outcome.status, FunctionPayload(function))
        case .syntaxError(let body), .importFailed(let body):
            return .json(status: outcome.status, body: body)
        }
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        try .json(FunctionListPayload(functions: host.functions().map(FunctionPayload.init)))
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        try deployToken?.authorize(request)
        let name = try context.parameters.require("name")
        return try .json(FunctionDetailPayload(try host.function(named: name)))
    }

    @Sendable func versions(_ request: Request, context: Context) async throws -> Response {
        let name = try context.parameters.require("name")
        let serving = try host.function(named: name).version
        let versions = try await host.versions(of: name)
        return try .json(VersionListPayload(name: name, serving: serving, versions: versions.map(FunctionPayload.init)))
    }

    /// One version's metadata and source: the configurator's, as the serving one's is.
    @Sendable func showVersion(_ request: Request, context: Context) async throws -> Response {
        try deployToken?.authorize(request)
        let name = try context.parameters.require("name")
        let number = try Self.versionNumber(try context.parameters.require("version"))
        _ = try host.function(named: name)
        guard let version = try await host.versions(of: name).first(where: { $0.version == number }) else {
            throw HostError.versionNotFound(name: name, version: number)
        }
        return try .json(FunctionDetailPayload(version))
    }

    /// A version number from a path.
    /// - Throws: `HostError.invalidParameter` unless it is a whole number from 1.
    static func versionNumber(_ raw: String) throws -> Int {
        guard let version = Int(raw), version > 0 else {
            throw HostError.invalidParameter(name: "version", reason: "must be a version number, not \"\(raw)\"")
        }
        return version
    }

    @Sendable func rollback(_ request: Request, context: Context) async throws -> Response {
        try deployToken?.authorize(request)
        let name = try context.parameters.require("name")
        let query = request.uri.queryParameters
        for (parameter, _) in query where parameter != "version" {
            throw HostError.invalidParameter(name: String(parameter), reason: "unknown; a rollback takes version")
        }
        guard let raw = query["version"], let version = Int(String(raw)), version > 0 else {
            throw HostError.invalidParameter(name: "version", reason: "required: the version number to serve again")
        }
        let function = try await host.rollback(name: name, to: version, by: actor(request))
        return try .json(FunctionPayload(function))
    }

    @Sendable func logs(_ request: Request, context: Context) async throws -> Response {
        try deployToken?.authorize(request)
        let name = try context.parameters.require("name")
        return try .json(
            InvocationListPayload(name: name, invocations: try await host.recentInvocations(of: name).map(InvocationPayload.init)))
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        try deployToken?.authorize(request)
        let name = try context.parameters.require("name")
        try FunctionName.validate(name)
        try await host.delete(name: name, by: actor(request))
        return Response(status: .noContent)
    }

    @Sendable func health(_ request: Request, context: Context) async throws -> Response {
        let health = await host.health()
        return try .json(
            status: health.zygoteRunning ? .ok : .serviceUnavailable, HealthPayload(health, deployTokenRequired: deployToken != nil))
    }

    @Sendable func exportMetrics(_ request: Request, context: Context) async throws -> Response {
        await host.recordPoolMetrics()
        var body = ByteBuffer()
        body.writeBytes(metrics.emitToBuffer())
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: body))
    }

    @Sendable func openAPI(_ request: Request, context: Context) async throws -> Response {
        .json(status: .ok, body: openAPIDocument)
    }

}

extension HTTPField.Name {
    /// The host pid of the worker that served a call, to match it with the server's log.
    static let pyhostWorker = Self("Pyhost-Worker")!
    /// The id of an invocation, in the server's log lines and `GET /functions/{name}/logs`.
    static let pyhostInvocationID = Self("Pyhost-Invocation-Id")!
}

/// Invocation counts by function and status, and durations, for /metrics. The handles are made
/// once per function and status and kept: making one looks it up in the registry under a lock.
enum InvocationMetrics {
    private struct Handles {
        let duration: Metrics.Timer
        var counts: [Int: Metrics.Counter] = [:]
    }
    private static let handles = Mutex<[String: Handles]>([:])

    static func record(_ record: InvocationRecord, of name: String) {
        let (count, duration) = handles.withLock { handles in
            var function =
                handles[name] ?? Handles(duration: Timer(label: "pyhost_invocation_duration_seconds", dimensions: [("function", name)]))
            let count =
                function.counts[record.status]
                ?? Counter(label: "pyhost_invocations_total", dimensions: [("function", name), ("status", String(record.status))])
            function.counts[record.status] = count
            handles[name] = function
            return (count, function.duration)
        }
        count.increment()
        duration.recordNanoseconds(Int64(record.milliseconds * 1_000_000))
    }
}
