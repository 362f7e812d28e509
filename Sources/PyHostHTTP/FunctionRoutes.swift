import HTTPTypes
import Hummingbird
import NIOCore
import PyHostCore

/// The API's routes, each a thin translation between HTTP and `FunctionHost`.
struct FunctionRoutes<Context: RequestContext> {
    let host: FunctionHost
    /// When set, deploys and deletes require it; invocations and reads stay open.
    let deployToken: DeployToken?
    let openAPIDocument: ByteBuffer

    func add(to router: Router<Context>) {
        router.post("/functions/:name", use: deploy)
        router.post("/functions/:name/invoke", use: invoke)
        router.get("/functions", use: list)
        router.get("/functions/:name", use: show)
        router.delete("/functions/:name", use: delete)
        router.get("/healthz", use: health)
        router.get("/openapi.json", use: openAPI)
    }

    @Sendable func deploy(_ request: Request, context: Context) async throws -> Response {
        try deployToken?.authorize(request)
        let name = try context.parameters.require("name")
        try FunctionName.validate(name)
        let limit = host.configuration.maximumSourceBytes
        let settings = try DeploySettings(query: request.uri.queryParameters)
        let body = try await collect(request, upTo: limit, tooLarge: .sourceTooLarge(limit: limit))
        let outcome = try await host.deploy(name: name, body: body, timeoutSeconds: settings.timeoutSeconds)
        switch outcome {
        case .deployed(let function):
            return try .json(status: outcome.status, DeployedPayload(function))
        case .syntaxError(let body), .importFailed(let body):
            return .json(status: outcome.status, body: body)
        }
    }

    @Sendable func invoke(_ request: Request, context: Context) async throws -> Response {
        let name = try context.parameters.require("name")
        _ = try host.function(named: name)
        let limit = host.configuration.maximumRequestBytes
        let body = try await collect(request, upTo: limit, tooLarge: .requestTooLarge(limit: limit))
        let invocation = try await host.invoke(name: name, body: body)
        let headers: HTTPFields = [.pyhostWorker: String(invocation.workerPID)]
        switch invocation.outcome {
        case .returned(let body), .raised(let body), .badRequest(let body):
            return .json(status: invocation.outcome.status, body: body, headers: headers)
        }
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        try .json(FunctionListPayload(functions: host.functions().map(FunctionSummaryPayload.init)))
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        let name = try context.parameters.require("name")
        return try .json(FunctionDetailPayload(try host.function(named: name)))
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        try deployToken?.authorize(request)
        let name = try context.parameters.require("name")
        try FunctionName.validate(name)
        try await host.delete(name: name)
        return Response(status: .noContent)
    }

    @Sendable func health(_ request: Request, context: Context) async throws -> Response {
        let health = await host.health()
        return try .json(status: health.zygoteRunning ? .ok : .serviceUnavailable, HealthPayload(health))
    }

    @Sendable func openAPI(_ request: Request, context: Context) async throws -> Response {
        .json(status: .ok, body: openAPIDocument)
    }

    /// The whole body, or `tooLarge` once it passes `limit`.
    private func collect(_ request: Request, upTo limit: Int, tooLarge: HostError) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
    }
}

extension HTTPField.Name {
    /// The host pid of the worker that served a call, to match it with the server's log.
    static let pyhostWorker = Self("Pyhost-Worker")!
}
