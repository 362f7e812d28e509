import HTTPTypes
import Hummingbird
import NIOCore
import PyHostCore
import Synchronization

/// A host-wide budget for the request bodies the server holds at once. A request is charged for
/// the body bytes as they arrive, not for the length it announces, so a client that announces a
/// large body and sends nothing holds nothing; the charge is given back once the route is done
/// with the body. A request whose bytes would pass the budget gets 503 `Busy` with `Retry-After`
/// and is read no further. Every route that reads a body reads it here, and `InvokeFastPath`
/// charges the invocations it reads itself.
final class RequestBodyBudget: Sendable {
    static var totalBytes: Int { 128 * 1024 * 1024 }

    private let capacity: Int
    private let held = Mutex(0)

    init(capacity: Int = RequestBodyBudget.totalBytes) {
        self.capacity = capacity
    }

    /// Runs `use` with the whole body of `request`, charged to the budget until `use` returns.
    /// - Throws: `tooLarge` once the body passes `limit`, or 503 `Busy` when the budget cannot
    ///   take its next bytes.
    func withBody<T>(
        of request: Request, upTo limit: Int, tooLarge: HostError, _ use: (ByteBuffer) async throws -> T
    ) async throws -> T {
        var charged = 0
        defer { giveBack(charged) }
        var body: ByteBuffer?
        for try await chunk in request.body {
            try charge(chunk.readableBytes)
            charged += chunk.readableBytes
            guard (body?.readableBytes ?? 0) + chunk.readableBytes <= limit else { throw tooLarge }
            // The usual body is one chunk, kept as it came.
            if body == nil { body = chunk } else { body!.writeImmutableBuffer(chunk) }
        }
        return try await use(body ?? ByteBuffer())
    }

    /// Bytes charged now.
    var bytesHeld: Int { held.withLock { $0 } }

    /// Gives back `bytes` charged before.
    func giveBack(_ bytes: Int) {
        held.withLock { $0 -= bytes }
    }

    /// Takes `bytes` from the budget.
    /// - Throws: 503 `Busy` when the budget cannot take them.
    func charge(_ bytes: Int) throws {
        let granted = held.withLock { held in
            guard held + bytes <= capacity else { return false }
            held += bytes
            return true
        }
        guard granted else {
            throw APIError(
                .serviceUnavailable, type: "Busy",
                message: "the server holds as many request bodies as it may (\(capacity) bytes); retry later",
                headers: [.retryAfter: "1"])
        }
    }
}
