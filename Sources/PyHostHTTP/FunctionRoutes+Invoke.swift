import HTTPTypes
import Hummingbird
import NIOCore
import PyHostCore

/// The invoke route: `FunctionRoutes.invoke` through Hummingbird's router, and the same steps
/// for `InvokeFastPath`.
extension FunctionRoutes {
    @Sendable func invoke(_ request: Request, context: Context) async throws -> Response {
        let pending = try beginInvocation(request, name: try context.parameters.require("name"), version: context.parameters.get("version"))
        let limit = host.configuration.maximumRequestBytes
        return try await bodies.withBody(of: request, upTo: limit, tooLarge: .requestTooLarge(limit: limit)) {
            try await finishInvocation(pending, body: $0)
        }
    }

    /// An invocation as its head tells it, checked.
    struct PendingInvocation: Sendable {
        let request: Request
        let name: String
        let version: Int?
        let envelope: Bool
        let caller: Caller
    }

    /// Reads and checks what an invocation's head asks for. The caller is checked from the
    /// headers before the body is read, so one who may not call holds no body budget; and again
    /// once the body is in (`finishInvocation`), just before the call, so a deploy, an access
    /// change or a revoked key during a slow upload holds for that call too. Only the second
    /// spends a rate limit.
    func beginInvocation(_ request: Request, name: String, version raw: String?) throws -> PendingInvocation {
        let version = try raw.map(Self.versionNumber)
        let envelope = try InvocationEnvelope.wanted(request.uri.queryParameters)
        let caller = Caller(request, token: deployToken)
        try authorizeCall(by: caller, of: name, version: version, envelope: envelope, spending: false)
        return PendingInvocation(request: request, name: name, version: version, envelope: envelope, caller: caller)
    }

    /// Makes the call `pending` with its whole body and answers it.
    func finishInvocation(_ pending: PendingInvocation, body: ByteBuffer) async throws -> Response {
        let caller = pending.caller
        try authorizeCall(by: caller, of: pending.name, version: pending.version, envelope: pending.envelope, spending: true)
        let call = invocationRequest(pending.request, body: body, withoutAuthorization: caller.isConfigurator || caller.key != nil)
        return try await invoke(pending.name, version: pending.version, call, envelope: pending.envelope)
    }

    /// Makes the call and answers it, its outcome or its failure kept in the function's log and metrics.
    private func invoke(_ name: String, version: Int?, _ call: InvocationRequest, envelope: Bool) async throws -> Response {
        do {
            let invocation = try await host.invoke(name: name, version: version, request: call)
            let response: Response
            do {
                response = try InvocationEnvelope.response(invocation, envelope: envelope)
            } catch let error as HostError {
                var failure = error.apiError
                failure.headers[.pyhostInvocationID] = invocation.id
                recordInvocation(InvocationRecord(invocation, status: failure.status.code), of: name)
                throw failure
            }
            recordInvocation(InvocationRecord(invocation, status: response.status.code), of: name)
            return response
        } catch let failure as InvocationFailure {
            var error = failure.error.apiError
            error.headers[.pyhostInvocationID] = failure.id
            recordInvocation(InvocationRecord(failure, status: error.status.code), of: name)
            throw error
        }
    }

    private func recordInvocation(_ record: InvocationRecord, of name: String) {
        host.record(record, of: name)
        InvocationMetrics.record(record, of: name)
    }

    /// The body with what a handler's context shows: headers in lower case (without the deploy
    /// token or an invoker key, which are not the handler's to see: every `Authorization` field
    /// when either was presented, and any that holds a key's prefix) and the query without the
    /// host's `logs`.
    private func invocationRequest(_ request: Request, body: ByteBuffer, withoutAuthorization: Bool) -> InvocationRequest {
        var headers: [(name: String, value: String)] = []
        var positions: [String: Int] = [:]
        for field in request.headers {
            // A key, however it was sent, is never the handler's to see.
            if field.name == .authorization && (withoutAuthorization || field.value.contains(InvokerKey.prefix)) { continue }
            let name = field.name.canonicalName
            if let position = positions[name] {
                headers[position].value += ", " + field.value
            } else {
                positions[name] = headers.count
                headers.append((name, field.value))
            }
        }
        let query = request.uri.queryParameters.filter { $0.key != "logs" }.map { (name: String($0.key), value: String($0.value)) }
        return InvocationRequest(
            body: body, contentType: request.headers[.contentType] ?? "application/json", accept: request.headers[.accept] ?? "",
            headers: headers, query: query)
    }

}
