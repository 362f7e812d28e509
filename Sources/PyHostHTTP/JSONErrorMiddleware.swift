import Hummingbird
import NIOCore
import PyHostCore

/// Gives every error, from a route or from the framework, the API's JSON error body.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Paths served with GET besides the API's routes (the console's files).
    let staticPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // The router knows only "no route": a known path asked with another method is a 405.
            guard let allowed = allowedMethods(for: request.uri.path), !allowed.contains(request.method) else {
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

    /// The methods served on `path`, or nil for a path the server does not have.
    func allowedMethods(for path: String) -> [HTTPRequest.Method]? {
        if staticPaths.contains(path) { return [.get] }
        let parts = APIRoute.components(of: path)
        let methods = APIRoute.allCases.filter { $0.matches(components: parts) }.map(\.method)
        return methods.isEmpty ? nil : methods
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
