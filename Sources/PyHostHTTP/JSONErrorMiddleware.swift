import Hummingbird
import NIOCore
import PyHostCore

/// Gives every error, from a route or from the framework, the API's JSON error body.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let apiError = Self.apiError(for: error)
            if apiError.status == .internalServerError {
                context.logger.error("request failed", metadata: ["error": "\(error)"])
            }
            return try apiError.response(from: request, context: context)
        }
    }

    static func apiError(for error: any Error) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as HostError:
            return error.apiError
        case let error as HTTPError:
            return APIError(error.status, type: error.status.reasonPhrase.replacingOccurrences(of: " ", with: ""),
                            message: error.body ?? error.status.reasonPhrase)
        default:
            return APIError(.internalServerError, type: "InternalError", message: "the server failed: \(error)")
        }
    }
}
