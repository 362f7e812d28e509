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
        var body = ChargedBody(budget: self, limit: limit, tooLarge: tooLarge)
        defer { body.giveBack() }
        for try await chunk in request.body { try body.append(chunk) }
        return try await use(body.whole)
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

/// A body being read: its bytes so far, and what they are charged to the budget.
struct ChargedBody {
    let budget: RequestBodyBudget
    let limit: Int
    let tooLarge: HostError
    private var bytes: ByteBuffer?
    private(set) var charged = 0

    init(budget: RequestBodyBudget, limit: Int, tooLarge: HostError) {
        self.budget = budget
        self.limit = limit
        self.tooLarge = tooLarge
    }

    /// Adds `chunk`, charged to the budget first.
    /// - Throws: 503 `Busy` when the budget cannot take it, or `tooLarge` once the body passes `limit`.
    mutating func append(_ chunk: ByteBuffer) throws {
        try budget.charge(chunk.readableBytes)
        charged += chunk.readableBytes
        guard (bytes?.readableBytes ?? 0) + chunk.readableBytes <= limit else { throw tooLarge }
        // The usual body is one chunk, kept as it came.
        if bytes == nil { bytes = chunk } else { bytes!.writeImmutableBuffer(chunk) }
    }

    /// The body read so far.
    var whole: ByteBuffer { bytes ?? ByteBuffer() }

    /// Gives back what the body was charged.
    func giveBack() {
        budget.giveBack(charged)
    }
}
