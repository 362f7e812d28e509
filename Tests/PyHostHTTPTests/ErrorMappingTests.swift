import Foundation
import Hummingbird
import NIOCore
import PyHostCore
import Testing

@testable import PyHostHTTP

@Suite struct ErrorMappingTests {
    /// Every host failure the API can return: its status and error type.
    @Test(arguments: [
        (HostError.invalidName("Bad"), HTTPResponse.Status.badRequest, "InvalidName"),
        (.invalidParameter(name: "timeout", reason: "must be a number of seconds in (0, 300]"), .badRequest, "InvalidParameter"),
        (.emptySource, .badRequest, "EmptySource"),
        (.invalidUTF8Source, .badRequest, "InvalidUTF8"),
        (.sourceTooLarge(limit: 1_048_576), .contentTooLarge, "SourceTooLarge"),
        (.requestTooLarge(limit: 6_291_456), .contentTooLarge, "RequestTooLarge"),
        (.functionNotFound("nope"), .notFound, "FunctionNotFound"),
        (.versionNotFound(name: "hello", version: 9), .notFound, "VersionNotFound"),
        (.workerDied("the worker exited with code 3"), .badGateway, "WorkerDied"),
        (.importCrashed("the worker exited with code 1"), .unprocessableContent, "ImportCrashed"),
        (.deadlineExceeded(seconds: 2), .gatewayTimeout, "DeadlineExceeded"),
        (.saturated(retryAfterSeconds: 1), .serviceUnavailable, "Saturated"),
        (.zygoteUnavailable("gone"), .serviceUnavailable, "ZygoteUnavailable"),
        (.protocolViolation("odd frame"), .badGateway, "ProtocolViolation"),
        (.storeUnavailable("the function store is locked by another process"), .serviceUnavailable, "StoreUnavailable"),
        (.storeFull, HTTPResponse.Status(code: 507), "StoreFull"),
        (.storeReadOnly, .serviceUnavailable, "StoreReadOnly"),
        (.keyRequired(function: "sales"), .unauthorized, "KeyRequired"),
        (.invalidKey, .unauthorized, "InvalidKey"),
        (.keyNotAllowed(keyID: "k_0123456789ab", function: "sales"), .forbidden, "KeyNotAllowed"),
        (.rateLimited(limit: "function sales: 5/s", keyID: nil, retryAfterSeconds: 1), .tooManyRequests, "RateLimited"),
        (.keyNotFound("k_0123456789ab"), .notFound, "KeyNotFound"),
        (.invalidBody("access: required"), .badRequest, "InvalidBody"),
        (.requirementsRefused(type: "NoCompatibleWheel", message: "sdistonly has no wheel"), .unprocessableContent, "NoCompatibleWheel"),
        (.packagesFailedToImport("importing the environment's packages failed"), .unprocessableContent, "PackageImportFailed"),
    ])
    func hostErrorsMapToStatusAndType(error: HostError, status: HTTPResponse.Status, type: String) throws {
        let apiError = error.apiError
        #expect(apiError.status == status)
        #expect(apiError.type == type)
        let body = try JSONSerialization.jsonObject(with: Data(buffer: try apiError.body())) as? [String: [String: Any]]
        #expect(body?["error"]?["type"] as? String == type)
        #expect((body?["error"]?["message"] as? String)?.isEmpty == false)
    }

    /// Retry-After where waiting can help, and only there.
    @Test(arguments: [
        (HostError.saturated(retryAfterSeconds: 1), "1" as String?), (.zygoteUnavailable("gone"), "1"), (.storeUnavailable("locked"), "1"),
        (.storeFull, nil), (.storeReadOnly, nil), (.deadlineExceeded(seconds: 2), nil),
        (.rateLimited(limit: "key k_0123456789ab: 1/s", keyID: "k_0123456789ab", retryAfterSeconds: 3), "3"),
    ])
    func retryAfter(error: HostError, seconds: String?) {
        #expect(error.apiError.headers[.retryAfter] == seconds)
    }

    @Test func outcomesMapToStatus() {
        let body = ByteBuffer(string: "{}")
        #expect(InvocationOutcome.returned(body).status == .ok)
        #expect(InvocationOutcome.raised(body).status == .internalServerError)
        #expect(InvocationOutcome.badRequest(body).status == .badRequest)
        #expect(InvocationOutcome.responded(body).status == .ok)
        #expect(InvocationOutcome.notAcceptable(body).status == .notAcceptable)
        #expect(DeployOutcome.syntaxError(body).status == .badRequest)
        #expect(DeployOutcome.importFailed(body).status == .unprocessableContent)
    }

    @Test func unknownErrorsBecomeJSON500s() {
        struct Surprise: Error {}
        #expect(JSONErrorMiddleware<BasicRequestContext>.apiError(for: Surprise()).status == .internalServerError)
        #expect(JSONErrorMiddleware<BasicRequestContext>.apiError(for: HTTPError(.notFound)).type == "NotFound")
    }
}

@Suite struct AllowedMethodsTests {
    let middleware = JSONErrorMiddleware<BasicRequestContext>(staticPaths: ["/", "/console/app.js"])

    @Test(arguments: [
        ("/functions", ["GET"]), ("/functions/hello", ["GET", "POST", "DELETE"]), ("/functions/hello/invoke", ["POST"]),
        ("/healthz", ["GET"]), ("/openapi.json", ["GET"]), ("/metrics", ["GET"]), ("/", ["GET"]),
        ("/functions/hello/versions", ["GET"]), ("/functions/hello/logs", ["GET"]), ("/functions/hello/rollback", ["POST"]),
        ("/functions/hello/versions/2/invoke", ["POST"]), ("/console/app.js", ["GET"]),
    ])
    func knownPaths(path: String, methods: [String]) {
        #expect(middleware.allowedMethods(for: path)?.map(\.rawValue) == methods)
    }

    @Test(arguments: ["/nothing", "/functions/a/b/c", "/functions/hello/other", "/healthz/x", "/functions/a/versions/2/other"])
    func unknownPaths(path: String) {
        #expect(middleware.allowedMethods(for: path) == nil)
    }
}

@Suite struct APIRouteTests {
    /// openapi.json documents exactly the routes the router registers.
    @Test func theOpenAPIDocumentListsEveryRouteAndNoOther() throws {
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(buffer: OpenAPIDocument.load())) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let documented = Set(
            paths.flatMap { path, operations in
                operations.keys.filter { $0 != "parameters" }.map { "\($0.uppercased()) \(path)" }
            })
        let routed = Set(
            APIRoute.allCases.map { route in
                let path = route.path.split(separator: "/", omittingEmptySubsequences: false)
                    .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
                return "\(route.method.rawValue) \(path)"
            })
        #expect(documented == routed)
    }
}
