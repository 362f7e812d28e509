import DequeModule
import Logging
import ServiceLifecycle
import Synchronization

/// This node's invocation records, on their way to the shared store's `invocations` table, so
/// `GET /functions/{name}/logs` on any node shows every node's calls. `append` only queues, in
/// memory and bounded: a call never waits on the database. A service writes the queue every
/// `interval` in one transaction; while the store is away the oldest queued records are dropped.
final class SharedInvocationLog: Service, Sendable {
    static let capacity = 1000
    static let interval: Duration = .milliseconds(250)

    private let store: PostgresStore
    /// Records kept per function in the table.
    private let keep: Int
    private let logger: Logger
    private let queue = Mutex(Deque<(name: String, record: InvocationRecord)>())

    init(store: PostgresStore, keep: Int, logger: Logger) {
        self.store = store
        self.keep = keep
        self.logger = logger
    }

    func append(_ record: InvocationRecord, to name: String) {
        guard keep > 0 else { return }
        queue.withLock { queue in
            if queue.count == Self.capacity { queue.removeFirst() }
            queue.append((name, record))
        }
    }

    func run() async {
        while (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: Self.interval) })) != nil {
            await flush()
        }
        await flush()
    }

    /// Writes what is queued; on failure the batch is dropped, as the store may be away for long.
    func flush() async {
        let batch = queue.withLock { queue in
            defer { queue.removeAll() }
            return Array(queue)
        }
        guard !batch.isEmpty else { return }
        do {
            try await store.append(batch, keeping: keep)
        } catch {
            logger.warning("invocation records not shared", metadata: ["records": "\(batch.count)", "error": "\(error)"])
        }
    }

    /// The newest records of `name` across the cluster, newest first.
    func records(of name: String) async throws -> [InvocationRecord] {
        try await store.recentInvocations(of: name, limit: keep)
    }
}
