import Logging
import ServiceLifecycle
import Synchronization

/// Keeps a zygote running: when it ends unexpectedly, starts another, backing off while starts
/// keep failing. Meanwhile spawns fail with `HostError.zygoteUnavailable` and health is degraded.
/// The restarts happen in `run`, a `Service` of the application's service group.
final class ZygoteSupervisor: Service, Sendable {
    typealias Starter = @Sendable (_ onEnd: @escaping @Sendable () -> Void) async throws -> ZygoteClient

    private let current: Mutex<ZygoteClient?>
    private let stopping = Mutex(false)
    private let starter: Starter
    private let logger: Logger
    /// One element each time a zygote ends unexpectedly. A stream rather than a callback into
    /// `self`, so an end that comes before `init` returns is not lost.
    private let endings: AsyncStream<Void>
    private let ended: AsyncStream<Void>.Continuation

    /// The first zygote, as `start` left it: what /healthz reports while none is running.
    let first: ZygoteClient

    init(starter: @escaping Starter, logger: Logger) async throws {
        self.starter = starter
        self.logger = logger
        (endings, ended) = AsyncStream.makeStream(of: Void.self)
        let ended = self.ended
        let client = try await starter { ended.yield() }
        first = client
        current = Mutex(client)
    }

    /// The running zygote.
    /// - Throws: `HostError.zygoteUnavailable` while it is being restarted.
    func client() throws -> ZygoteClient {
        guard let client = current.withLock({ $0 }), client.isRunning else {
            throw HostError.zygoteUnavailable("the zygote ended and is restarting; retry shortly")
        }
        return client
    }

    var isRunning: Bool { current.withLock { $0?.isRunning ?? false } }

    /// The delay before restart attempt `attempt` (0-based): quick at first, at most 30 s.
    static func backoff(attempt: Int) -> Duration {
        .milliseconds(min(30_000, 100 << min(attempt, 9)))
    }

    /// Restarts the zygote each time it ends, until the service group shuts down.
    func run() async {
        for await _ in endings.cancelOnGracefulShutdown() {
            if stopping.withLock({ $0 }) { return }
            current.withLock { $0 = nil }
            await restart()
        }
    }

    /// Ends the zygote; it is not restarted any more.
    func shutdown() async {
        stopping.withLock { $0 = true }
        ended.finish()
        let client = current.withLock { client in
            defer { client = nil }
            return client
        }
        await client?.shutdown()
    }

    private func restart() async {
        let ended = self.ended
        for attempt in 0... {
            try? await Task.sleep(for: Self.backoff(attempt: attempt))
            if Task.isCancelled || stopping.withLock({ $0 }) { return }
            do {
                let client = try await starter { ended.yield() }
                // A shutdown that came during the start has already emptied `current`.
                let kept = current.withLock { slot in
                    guard !stopping.withLock({ $0 }) else { return false }
                    slot = client
                    return true
                }
                guard kept else { return await client.shutdown() }
                logger.notice("zygote restarted", metadata: ["attempt": "\(attempt + 1)", "pid": "\(client.pid)"])
                return
            } catch {
                logger.error("zygote restart failed", metadata: ["attempt": "\(attempt + 1)", "error": "\(error)"])
            }
        }
    }
}
