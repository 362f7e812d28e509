import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// A host-wide budget for the request bodies the server holds at once. A request is charged for
/// the body bytes as they arrive, not for the length it announces, so a client that announces a
/// large body and sends nothing holds nothing; the charge is given back once it is answered. A
/// request whose bytes would pass the budget gets 503 `Busy` with `Retry-After` and is read no further.
final class RequestBodyBudget<Context: RequestContext>: RouterMiddleware, Sendable {
    static var totalBytes: Int { 128 * 1024 * 1024 }

    private let capacity: Int
    private let held = Mutex(0)

    init(capacity: Int = RequestBodyBudget.totalBytes) {
        self.capacity = capacity
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post || request.method == .put || request.method == .patch else {
            return try await next(request, context)
        }
        let account = Account(budget: self)
        defer { account.close() }
        var request = request
        request.body = RequestBody(asyncSequence: ChargedBody(body: request.body, account: account))
        return try await next(request, context)
    }

    /// What one request holds of the budget.
    final class Account: Sendable {
        let budget: RequestBodyBudget
        private let charged = Mutex(0)

        init(budget: RequestBodyBudget) {
            self.budget = budget
        }

        func charge(_ bytes: Int) throws {
            let granted = budget.held.withLock { held in
                guard held + bytes <= budget.capacity else { return false }
                held += bytes
                return true
            }
            guard granted else {
                throw APIError(
                    .serviceUnavailable, type: "Busy",
                    message: "the server holds as many request bodies as it may (\(budget.capacity) bytes); retry later",
                    headers: [.retryAfter: "1"])
            }
            charged.withLock { $0 += bytes }
        }

        func close() {
            let bytes = charged.withLock { $0 }
            budget.held.withLock { $0 -= bytes }
        }
    }

    /// A request body that charges its account for each chunk as it arrives.
    struct ChargedBody: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let body: RequestBody
        let account: Account

        struct AsyncIterator: AsyncIteratorProtocol {
            var base: RequestBody.AsyncIterator
            let account: Account

            mutating func next() async throws -> ByteBuffer? {
                guard let chunk = try await base.next() else { return nil }
                try account.charge(chunk.readableBytes)
                return chunk
            }
        }

        func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(base: body.makeAsyncIterator(), account: account)
        }
    }
}
