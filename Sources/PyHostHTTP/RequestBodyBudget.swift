import HTTPTypes
import Hummingbird
import Synchronization

/// A host-wide budget for the request bodies the server holds at once. A request reserves its
/// `Content-Length` (or, without one, the largest body a route accepts) until it is answered; one
/// that would pass the budget gets 503 `Busy` with `Retry-After` before its body is read.
final class RequestBodyBudget<Context: RequestContext>: RouterMiddleware, Sendable {
    static var totalBytes: Int { 128 * 1024 * 1024 }

    private let capacity: Int
    private let largestBody: Int
    private let reserved = Mutex(0)

    /// - Parameter largestBody: the most any route reads, reserved for a body of unknown length.
    init(largestBody: Int, capacity: Int = RequestBodyBudget.totalBytes) {
        self.largestBody = largestBody
        self.capacity = capacity
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post || request.method == .put || request.method == .patch else {
            return try await next(request, context)
        }
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        let bytes = min(declared ?? largestBody, largestBody)
        let granted = reserved.withLock { total in
            guard total + bytes <= capacity else { return false }
            total += bytes
            return true
        }
        guard granted else {
            throw APIError(
                .serviceUnavailable, type: "Busy",
                message: "the server holds as many request bodies as it may (\(capacity) bytes); retry later",
                headers: [.retryAfter: "1"])
        }
        defer { reserved.withLock { $0 -= bytes } }
        return try await next(request, context)
    }
}
