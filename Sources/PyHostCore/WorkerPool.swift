import Logging
import NIOCore
import NIOPosix

/// Warm workers per function version, kept within `PoolLimits`. The decisions are `PoolState`'s;
/// this actor carries them out: it spawns, hands workers to waiting calls, and retires them.
public actor WorkerPool {
    /// Starts a worker for a function version and returns it loaded and ready, its channel on the
    /// event loop given, if one is.
    public typealias Spawner = @Sendable (FunctionKey, (any EventLoop)?) async throws -> WorkerConnection

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
    /// CPU time of each worker at the last check while it was idle, and what it spent idle so far.
    private var idleCPU: [Int32: (cpu: Duration, at: ContinuousClock.Instant, spent: Duration)] = [:]

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

    /// The same, per function.
    public var countsByFunction: [String: Counts] { state.countsByFunction }

    public var counts: Counts {
        Counts(live: state.liveCount, idle: state.idleCount, busy: state.busyCount, waiting: state.waitingCount)
    }

    /// A worker for `key`, warm if one is idle. Waits at most until `deadline`.
    ///
    /// `loop` is the event loop of the call's connection: an idle worker whose channel is on it is
    /// taken first, as the whole call then runs on one thread, where a worker on another loop costs
    /// a wake-up of that loop's thread each way. A call that must take the last idle worker from
    /// another loop, one that has served `callsBeforeLocality` calls, starts one more on its own
    /// loop when the function has room for it.
    /// - Throws: `HostError.saturated` when the queue is full or the call cannot start before its
    ///   deadline, `.functionNotFound` when the version was deleted meanwhile, or the error that
    ///   kept a worker from starting.
    public func acquire(
        _ key: FunctionKey, deadline: ContinuousClock.Instant, near loop: (any EventLoop)? = nil
    ) async throws -> WorkerConnection {
        while true {
            let acquisition = state.acquire(key, now: .now, deadline: deadline) { pid in
                loop == nil || workers[pid]?.eventLoop === loop
            }
            switch acquisition {
            case .use(let pid):
                // A worker killed while idle may not have been noticed yet: it is never handed out.
                guard let worker = workers[pid], worker.isAlive else {
                    discard(pid)
                    continue
                }
                if let loop, worker.eventLoop !== loop, (service[pid]?.served ?? 0) >= Self.callsBeforeLocality {
                    // Not a cold start: no call waits for it.
                    for case .spawn(let key) in state.addWorker(for: key) { Task { await self.spawn(key, near: loop) } }
                }
                return worker
            case .saturated(let retryAfter):
                throw HostError.saturated(retryAfterSeconds: retryAfter.wholeSecondsRoundedUp)
            case .gone:
                throw HostError.functionNotFound(key.name)
            case .wait(let ticket, let actions):
                return try await withCheckedThrowingContinuation { continuation in
                    // An event-loop timer, cancelled when a worker comes: cheap enough for every queued call.
                    let remaining = TimeAmount.nanoseconds(max(0, (deadline - .now).nanoseconds))
                    let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: remaining) { [weak self] in
                        _ = Task { await self?.giveUp(ticket: ticket, key: key) }
                    }
                    waiters[ticket] = Waiter(continuation: continuation, deadline: timer)
                    perform(actions)
                }
            }
        }
    }

    /// Returns a worker after a call. A worker that failed the call is removed instead.
    public func release(_ worker: WorkerConnection, healthy: Bool) {
        if healthy && worker.isActive && !shouldRecycle(worker) {
            perform(state.release(worker.pid, now: .now))
        } else {
            discard(worker.pid)
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
        let adopted = worker.flatMap { track($0) ? $0 : nil }
        perform(
            state.makeCurrent(
                name: function.name, key: function.key, perFunction: function.concurrency, minWarm: function.minWarm,
                adopting: adopted.map { ($0.pid, .now) }))
    }

    /// The function is gone: all its workers retire and its waiting calls fail.
    public func removeFunction(_ name: String) {
        let (failed, actions) = state.removeFunction(name)
        for ticket in failed { waiters.removeValue(forKey: ticket)?.resume(with: .failure(HostError.functionNotFound(name))) }
        perform(actions)
    }

    /// Retires idle workers past the idle timeout, and idle workers that burn CPU.
    public func expireIdle() {
        perform(state.expire(now: .now))
        retireSpinningIdleWorkers(now: .now)
    }

    /// Ends idle workers that have used more than `idleCPUBudget` of CPU, over their life, in the
    /// intervals between checks when they were idle throughout: a thread a handler left running
    /// after its call returned. Between calls a worker has nothing to do, so this never ends a
    /// worker that only serves calls.
    private func retireSpinningIdleWorkers(now: ContinuousClock.Instant) {
        for (pid, since) in state.idleWorkers {
            guard let cpu = CPUTime.used(by: pid) else { continue }
            var record = idleCPU[pid] ?? (cpu, now, .zero)
            if record.at >= since { record.spent += cpu - record.cpu }
            record.cpu = cpu
            record.at = now
            idleCPU[pid] = record
            if record.spent > Self.idleCPUBudget {
                logger.warning("worker retired: it used CPU while idle", metadata: ["pid": "\(pid)", "cpu": "\(record.spent)"])
                HostMetrics.workerDeath(cause: "idle_cpu")
                discard(pid)
            }
        }
        idleCPU = idleCPU.filter { workers[$0.key] != nil }
    }

    /// Calls a worker serves before a call crossing to it from another event loop starts one on
    /// the caller's: a start costs a fork and a module load (~2 ms of CPU), a crossing ~40 µs, so
    /// only a function called this often gains from it.
    static let callsBeforeLocality = 64

    /// CPU a worker may use while idle over its life before it is ended.
    static let idleCPUBudget = Duration.milliseconds(200)

    /// Ends every worker (the server is stopping).
    public func shutdown() {
        for worker in workers.values { worker.terminate() }
        workers = [:]
        for waiter in waiters.values { waiter.resume(with: .failure(HostError.zygoteUnavailable("the server is stopping"))) }
        waiters = [:]
    }

    /// Keeps `worker`, and forgets it as soon as its channel closes: an idle worker killed from
    /// outside (or by the kernel) must not be handed to the next call. A worker whose pid the pool
    /// already holds (a zygote handing over a live worker's pidfd again) is ended instead; returns
    /// whether it was kept.
    @discardableResult
    private func track(_ worker: WorkerConnection) -> Bool {
        guard workers[worker.pid] == nil else {
            logger.error("a zygote handed over a worker the pool already holds", metadata: ["pid": "\(worker.pid)"])
            worker.terminate()
            return false
        }
        workers[worker.pid] = worker
        service[worker.pid] = (0, recycling.drawLimit(using: &random))
        worker.onClose { [weak self] in
            Task { await self?.closed(worker) }
        }
        return true
    }

    private func closed(_ worker: WorkerConnection) {
        guard workers[worker.pid] === worker else { return }
        workers[worker.pid] = nil
        service[worker.pid] = nil
        perform(state.removed(worker.pid))
    }

    private func discard(_ pid: Int32) {
        workers.removeValue(forKey: pid)?.terminate()
        service[pid] = nil
        perform(state.removed(pid))
    }

    /// The deadline passed before a worker came: no user code ran, so a retry can succeed.
    private func giveUp(ticket: UInt64, key: FunctionKey) {
        guard state.cancel(ticket: ticket, key: key), let waiter = waiters.removeValue(forKey: ticket) else { return }
        waiter.resume(with: .failure(HostError.saturated(retryAfterSeconds: 1)))
    }

    /// Carries out the state's actions. `spawnError` is what fails the calls a failed spawn was for.
    private func perform(_ actions: [PoolState.Action], spawnError: (any Error)? = nil) {
        for action in actions {
            switch action {
            case .hand(let ticket, let pid):
                waiters.removeValue(forKey: ticket)?.resume(with: .success(workers[pid]!))
            case .spawn(let key):
                HostMetrics.coldStart(key)
                Task { await self.spawn(key, near: nil) }
            case .retire(let pid):
                service[pid] = nil
                workers.removeValue(forKey: pid)?.terminate()
            case .fail(let ticket):
                let error = spawnError ?? HostError.zygoteUnavailable("no worker could be started")
                waiters.removeValue(forKey: ticket)?.resume(with: .failure(error))
            case .shed(let ticket, let retryAfter):
                let error = HostError.saturated(retryAfterSeconds: retryAfter.wholeSecondsRoundedUp)
                waiters.removeValue(forKey: ticket)?.resume(with: .failure(error))
            }
        }
    }

    private func spawn(_ key: FunctionKey, near loop: (any EventLoop)?) async {
        do {
            let worker = try await spawner(key, loop)
            guard track(worker) else { throw HostError.protocolViolation("a zygote handed over a worker the pool already holds") }
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
    /// At least 1: what a Retry-After header says.
    var wholeSecondsRoundedUp: Int {
        max(1, Int(components.seconds) + (components.attoseconds > 0 ? 1 : 0))
    }

    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
