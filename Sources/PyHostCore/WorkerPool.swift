import Logging
import NIOCore
import NIOPosix

/// Warm workers per function version, kept within `PoolLimits`. The decisions are `PoolState`'s;
/// this actor carries them out: it spawns, hands workers to waiting calls, and retires them.
public actor WorkerPool {
    /// Starts a worker for a function version and returns it loaded and ready.
    public typealias Spawner = @Sendable (FunctionKey) async throws -> WorkerConnection

    private var state: PoolState
    private var workers: [Int32: WorkerConnection] = [:]
    private var waiters: [UInt64: Waiter] = [:]

    /// A call waiting for a worker, and the timer that gives up at its deadline.
    private struct Waiter {
        let continuation: CheckedContinuation<WorkerConnection, any Error>
        let deadline: Scheduled<Void>

        func resume(with result: Result<WorkerConnection, any Error>) {
            deadline.cancel()
            continuation.resume(with: result)
        }
    }
    private let spawner: Spawner
    private let logger: Logger
    private let recycling: Recycling
    /// Calls served so far and the number after which each worker retires.
    private var service: [Int32: (served: Int, limit: Int)] = [:]
    private var random = SystemRandomNumberGenerator()

    public init(limits: PoolLimits, recycling: Recycling = Recycling(), logger: Logger, spawner: @escaping Spawner) {
        self.recycling = recycling
        self.state = PoolState(limits: limits)
        self.spawner = spawner
        self.logger = logger
    }

    public struct Counts: Sendable, Equatable {
        public let live: Int
        public let idle: Int
        public let busy: Int
        public let waiting: Int
    }

    public var counts: Counts {
        Counts(live: state.liveCount, idle: state.idleCount, busy: state.busyCount, waiting: state.waitingCount)
    }

    /// A worker for `key`, warm if one is idle. Waits at most until `deadline`.
    /// - Throws: `HostError.saturated` when the queue is full, `.deadlineExceeded` when the wait
    ///   outlasts the deadline, or the error that kept a worker from starting.
    public func acquire(_ key: FunctionKey, deadline: ContinuousClock.Instant, timeout: Duration) async throws -> WorkerConnection {
        switch state.acquire(key) {
        case .use(let pid):
            return workers[pid]!
        case .saturated:
            throw HostError.saturated(retryAfterSeconds: 1)
        case .wait(let ticket, let actions):
            return try await withCheckedThrowingContinuation { continuation in
                // An event-loop timer, cancelled when a worker comes: cheap enough for every queued call.
                let remaining = TimeAmount.nanoseconds(max(0, (deadline - .now).nanoseconds))
                let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: remaining) { [weak self] in
                    _ = Task { await self?.giveUp(ticket: ticket, key: key, timeout: timeout) }
                }
                waiters[ticket] = Waiter(continuation: continuation, deadline: timer)
                perform(actions)
            }
        }
    }

    /// Returns a worker after a call. A worker that failed the call is removed instead.
    public func release(_ worker: WorkerConnection, healthy: Bool) {
        if healthy && worker.isActive && !shouldRecycle(worker) {
            perform(state.release(worker.pid, now: .now))
        } else {
            discard(worker)
        }
    }

    /// Counts the call; true once the worker has served its share or grown past the RSS bound.
    private func shouldRecycle(_ worker: WorkerConnection) -> Bool {
        guard var record = service[worker.pid] else { return false }
        record.served += 1
        service[worker.pid] = record
        if record.served >= record.limit {
            logger.info("worker recycled", metadata: ["pid": "\(worker.pid)", "calls": "\(record.served)"])
            return true
        }
        if record.served % recycling.rssCheckInterval == 0, let rss = ResidentMemory.bytes(of: worker.pid), rss > recycling.rssBytes {
            logger.info("worker recycled", metadata: ["pid": "\(worker.pid)", "rss_bytes": "\(rss)"])
            return true
        }
        return false
    }

    /// `function` now serves, with its settings; idle workers of other versions retire. `worker`,
    /// if given, is the one that loaded it, and becomes its first warm worker.
    public func makeCurrent(_ function: FunctionVersion, adopting worker: WorkerConnection? = nil) {
        if let worker { track(worker) }
        perform(
            state.makeCurrent(
                name: function.name, version: function.version, perFunction: function.concurrency, minWarm: function.minWarm,
                adopting: worker.map { ($0.pid, .now) }))
    }

    /// The function is gone: all its workers retire and its waiting calls fail.
    public func removeFunction(_ name: String) {
        let (retire, failed) = state.removeFunction(name)
        for pid in retire {
            service[pid] = nil
            workers.removeValue(forKey: pid)?.terminate()
        }
        for ticket in failed { waiters.removeValue(forKey: ticket)?.resume(with: .failure(HostError.functionNotFound(name))) }
    }

    /// Retires idle workers past the idle timeout.
    public func expireIdle() {
        perform(state.expire(now: .now))
    }

    /// Ends every worker (the server is stopping).
    public func shutdown() {
        for worker in workers.values { worker.terminate() }
        workers = [:]
        for waiter in waiters.values { waiter.resume(with: .failure(HostError.zygoteUnavailable("the server is stopping"))) }
        waiters = [:]
    }

    /// Keeps `worker`, and forgets it as soon as its channel closes: an idle worker killed from
    /// outside (or by the kernel) must not be handed to the next call.
    private func track(_ worker: WorkerConnection) {
        workers[worker.pid] = worker
        service[worker.pid] = (0, recycling.drawLimit(using: &random))
        worker.onClose { [weak self] in
            Task { await self?.closed(worker) }
        }
    }

    private func closed(_ worker: WorkerConnection) {
        guard workers[worker.pid] === worker else { return }
        workers[worker.pid] = nil
        service[worker.pid] = nil
        perform(state.removed(worker.pid))
    }

    private func discard(_ worker: WorkerConnection) {
        worker.terminate()
        workers[worker.pid] = nil
        service[worker.pid] = nil
        perform(state.removed(worker.pid))
    }

    private func giveUp(ticket: UInt64, key: FunctionKey, timeout: Duration) {
        guard state.cancel(ticket: ticket, key: key), let waiter = waiters.removeValue(forKey: ticket) else { return }
        waiter.resume(with: .failure(HostError.deadlineExceeded(seconds: timeout.seconds)))
    }

    /// Carries out the state's actions. `spawnError` is what fails the calls a failed spawn was for.
    private func perform(_ actions: [PoolState.Action], spawnError: (any Error)? = nil) {
        for action in actions {
            switch action {
            case .hand(let ticket, let pid):
                waiters.removeValue(forKey: ticket)?.resume(with: .success(workers[pid]!))
            case .spawn(let key):
                HostMetrics.coldStart(key)
                Task { await self.spawn(key) }
            case .retire(let pid):
                service[pid] = nil
                workers.removeValue(forKey: pid)?.terminate()
            case .fail(let ticket):
                let error = spawnError ?? HostError.zygoteUnavailable("no worker could be started")
                waiters.removeValue(forKey: ticket)?.resume(with: .failure(error))
            }
        }
    }

    private func spawn(_ key: FunctionKey) async {
        do {
            let worker = try await spawner(key)
            track(worker)
            perform(state.spawned(worker.pid, key: key, now: .now))
        } catch {
            logger.error("worker failed to start", metadata: ["function": "\(key)", "error": "\(error)"])
            perform(state.spawnFailed(key: key), spawnError: error)
        }
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
