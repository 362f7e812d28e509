import Hummingbird
import NIOCore
import PyHostCore

/// Gives every error, from a route or from the framework, the API's JSON error body.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // The router knows only "no route": a known path asked with another method is a 405.
            guard let allowed = Self.allowedMethods(for: request.uri.path), !allowed.contains(request.method) else {
                return try Self.apiError(for: error).response(from: request, context: context)
            }
            let names = allowed.map(\.rawValue).joined(separator: ", ")
            return try APIError(
                .methodNotAllowed, type: "MethodNotAllowed", message: "\(request.uri.path) accepts \(names)",
                headers: [.allow: names]
            ).response(from: request, context: context)
        } catch {
            let apiError = Self.apiError(for: error)
            if apiError.status == .internalServerError {
                context.logger.error("request failed", metadata: ["error": "\(error)"])
            }
            return try apiError.response(from: request, context: context)
        }
    }

    /// The methods the API serves on `path`, or nil for a path it does not have.
    static func allowedMethods(for path: String) -> [HTTPRequest.Method]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        switch (parts.count, parts.first) {
        case (1, "functions"): return [.get]
        case (1, "healthz"), (1, "openapi.json"), (1, "metrics"): return [.get]
        case (2, "functions"): return [.get, .post, .delete]
        case (3, "functions") where parts.last == "invoke" || parts.last == "rollback": return [.post]
        case (3, "functions") where parts.last == "versions" || parts.last == "logs": return [.get]
        case (5, "functions") where parts[parts.startIndex + 2] == "versions" && parts.last == "invoke": return [.post]
        case (1, ""): return [.get]
        default: return nil
        }
    }

    static func apiError(for error: any Error) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as HostError:
            return error.apiError
        case let error as HTTPError:
            return APIError(
                error.status, type: error.status.reasonPhrase.replacingOccurrences(of: " ", with: ""),
                message: error.body ?? error.status.reasonPhrase)
        default:
            return APIError(.internalServerError, type: "InternalError", message: "the server failed: \(error)")
        }
    }
}
