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
    ])
    func hostErrorsMapToStatusAndType(error: HostError, status: HTTPResponse.Status, type: String) throws {
        let apiError = error.apiError
        #expect(apiError.status == status)
        #expect(apiError.type == type)
        let body = try JSONSerialization.jsonObject(with: Data(buffer: try apiError.body())) as? [String: [String: Any]]
        #expect(body?["error"]?["type"] as? String == type)
        #expect((body?["error"]?["message"] as? String)?.isEmpty == false)
    }

    @Test func saturationTellsWhenToRetry() {
        #expect(HostError.saturated(retryAfterSeconds: 1).apiError.headers[.retryAfter] == "1")
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
    @Test(arguments: [
        ("/functions", ["GET"]), ("/functions/hello", ["GET", "POST", "DELETE"]), ("/functions/hello/invoke", ["POST"]),
        ("/healthz", ["GET"]), ("/openapi.json", ["GET"]), ("/metrics", ["GET"]), ("/", ["GET"]),
        ("/functions/hello/versions", ["GET"]), ("/functions/hello/logs", ["GET"]), ("/functions/hello/rollback", ["POST"]),
        ("/functions/hello/versions/2/invoke", ["POST"]),
    ])
    func knownPaths(path: String, methods: [String]) {
        #expect(JSONErrorMiddleware<BasicRequestContext>.allowedMethods(for: path)?.map(\.rawValue) == methods)
    }

    @Test(arguments: ["/nothing", "/functions/a/b/c", "/functions/hello/other", "/healthz/x", "/functions/a/versions/2/other"])
    func unknownPaths(path: String) {
        #expect(JSONErrorMiddleware<BasicRequestContext>.allowedMethods(for: path) == nil)
    }
}
