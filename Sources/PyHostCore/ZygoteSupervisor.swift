import Logging
import Synchronization

/// Keeps a zygote running: when it ends unexpectedly, starts another, backing off while starts
/// keep failing. Meanwhile spawns fail with `HostError.zygoteUnavailable` and health is degraded.
final class ZygoteSupervisor: Sendable {
    typealias Starter = @Sendable (_ onEnd: @escaping @Sendable () -> Void) async throws -> ZygoteClient

    private let current: Mutex<ZygoteClient?>
    private let stopping = Mutex(false)
    private let starter: Starter
    private let logger: Logger

    /// The first zygote, as `start` left it: what /healthz reports while none is running.
    let first: ZygoteClient

    init(starter: @escaping Starter, logger: Logger) async throws {
        self.starter = starter
        self.logger = logger
        self.current = Mutex(nil)
        let box = SupervisorBox()
        let client = try await starter { box.supervisor?.ended() }
        first = client
        current.withLock { $0 = client }
        box.supervisor = self
    }

    /// The running zygote.
    /// - Throws: `HostError.zygoteUnavailable` while it is being restarted.
    func client() throws -> ZygoteClient {
        guard let client = current.withLock({ $0 }) else {
            throw HostError.zygoteUnavailable("the zygote ended and is restarting; retry shortly")
        }
        return client
    }

    var isRunning: Bool { current.withLock { $0 != nil } }

    /// The delay before restart attempt `attempt` (0-based): quick at first, at most 30 s.
    static func backoff(attempt: Int) -> Duration {
        .milliseconds(min(30_000, 100 << min(attempt, 9)))
    }

    func shutdown() {
        stopping.withLock { $0 = true }
        current.withLock { client in
            client?.shutdown()
            client = nil
        }
    }

    private func ended() {
        guard !stopping.withLock({ $0 }) else { return }
        current.withLock { $0 = nil }
        Task { await restart() }
    }

    private func restart() async {
        for attempt in 0... {
            try? await Task.sleep(for: Self.backoff(attempt: attempt))
            if stopping.withLock({ $0 }) { return }
            do {
                let client = try await starter { [weak self] in self?.ended() }
                current.withLock { $0 = client }
                logger.notice("zygote restarted", metadata: ["attempt": "\(attempt + 1)", "pid": "\(client.pid)"])
                return
            } catch {
                logger.error("zygote restart failed", metadata: ["attempt": "\(attempt + 1)", "error": "\(error)"])
            }
        }
    }
}

/// Lets the first zygote's end callback reach the supervisor that is still being initialized.
private final class SupervisorBox: @unchecked Sendable {
    // Written once, before any zygote can end (the callback runs on the zygote's reader thread
    // only after `start` returned); read afterwards.
    weak var supervisor: ZygoteSupervisor?
}
