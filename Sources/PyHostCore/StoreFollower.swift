import Logging
import ServiceLifecycle
import Synchronization

/// Keeps this node in step with a store that other nodes change: it listens for their changes
/// and catches up in full whenever the listen (re)starts and every `catchUpInterval`, so a
/// notification lost while the database was away never leaves the node stale.
struct StoreFollower: Service {
    let host: FunctionHost
    let store: PostgresStore

    static let retryInterval: Duration = .seconds(1)
    static let catchUpInterval: Duration = .seconds(5)

    func run() async {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await listen() }
                group.addTask { await catchUpPeriodically() }
            }
        }
    }

    private func listen() async {
        var lost = false
        while !Task.isCancelled {
            let renew = lost
            do {
                try await store.followChanges(
                    onListening: {
                        // After an outage the pool may be deep in its backoff: a fresh one connects now.
                        if renew { store.renewPool() }
                        await catchUp()
                        host.storeStatus.listening(nil)
                    },
                    onChange: { name in await host.follow(name) })
                host.storeStatus.listening("the connection to \(store.location) ended")
            } catch {
                guard !Task.isCancelled else { return }
                host.storeStatus.listening("cannot listen on \(store.location): \(PostgresStore.reason(error))")
            }
            lost = true
            try? await Task.sleep(for: Self.retryInterval)
        }
    }

    private func catchUpPeriodically() async {
        while (try? await Task.sleep(for: Self.catchUpInterval)) != nil {
            await catchUp()
        }
    }

    private func catchUp() async {
        do {
            try await host.catchUp()
            host.storeStatus.caughtUp(nil)
        } catch {
            guard case .storeUnavailable(let reason) = error as? HostError else {
                host.storeStatus.caughtUp("cannot catch up with \(store.location): \(error)")
                return
            }
            host.storeStatus.caughtUp(reason)
        }
    }
}

/// Why the shared store is not followed now, if it is not; `/healthz` reports it as degraded.
final class StoreStatus: Sendable {
    private let problems = Mutex<(listening: String?, catchingUp: String?)>((nil, nil))

    func listening(_ problem: String?) { problems.withLock { $0.listening = problem } }
    func caughtUp(_ problem: String?) { problems.withLock { $0.catchingUp = problem } }

    /// Nil while the node follows the store.
    var problem: String? { problems.withLock { $0.listening ?? $0.catchingUp } }
}
