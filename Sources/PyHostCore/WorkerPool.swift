import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Warm workers per function version, kept within `PoolLimits`. The decisions are `PoolState`'s;
/// this pool carries them out: it spawns, hands workers to waiting calls, and retires them.
///
/// Its state is under a lock, not in an actor: a warm call takes and returns a worker on its own
/// thread, where an actor made each of the two a hop of the call's task onto the actor and back,
/// and under load moved calls to whichever event loop last held the actor. What the state's
/// changes call for beyond it (resuming a call, starting or ending a worker) is done once the
/// lock is released: those can run code that takes it again.
public final class WorkerPool: Sendable {
    /// Starts a worker for a function version and returns it loaded and ready, its channel on the
    /// event loop given, if one is.
    public typealias Spawner = @Sendable (FunctionKey, (any EventLoop)?) async throws -> WorkerConnection

    private struct Inner {
        var state: PoolState
        var workers: [Int32: WorkerConnection] = [:]
        var waiters: [UInt64: Waiter] = [:]
        /// Calls served so far and the number after which each worker retires.
        var service: [Int32: (served: Int, limit: Int)] = [:]
        var random = SystemRandomNumberGenerator()
        /// CPU time of each worker at the last check while it was idle, and what it spent idle so far.
        var idleCPU: [Int32: (cpu: Duration, at: ContinuousClock.Instant, spent: Duration)] = [:]
        /// The server is stopping: no call takes a worker, and none starts.
        var stopped = false
    }

    /// A call waiting for a worker, and the timer that gives up at its deadline. Its answer may
    /// come before the call has suspended: it is kept until the call takes it.
    private struct Waiter {
        var continuation: CheckedContinuation<WorkerConnection, any Error>?
        var answer: Result<WorkerConnection, any Error>?
        var timer: Scheduled<Void>?
    }

    /// What is done once the lock is released.
    private enum Effect {
        case resume(CheckedContinuation<WorkerConnection, any Error>, Result<WorkerConnection, any Error>)
        case cancel(Scheduled<Void>)
        case spawn(FunctionKey, near: (any EventLoop)?)
        case terminate(WorkerConnection)
        /// Forgets the worker as soon as its channel closes (at once if it has closed already).
        case watch(WorkerConnection)
        /// A line for the log, which may block on its output.
        case log(Logger.Level, Logger.Message, Logger.Metadata)
    }

    private let inner: Mutex<Inner>
    private let spawner: Spawner
    private let logger: Logger
    private let recycling: Recycling

    public init(limits: PoolLimits, recycling: Recycling = Recycling(), logger: Logger, spawner: @escaping Spawner) {
        self.recycling = recycling
        self.inner = Mutex(Inner(state: PoolState(limits: limits)))
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
    public var countsByFunction: [String: Counts] { inner.withLock { $0.state.countsByFunction } }

    public var counts: Counts {
        inner.withLock { inner in
            let state = inner.state
            return Counts(live: state.liveCount, idle: state.idleCount, busy: state.busyCount, waiting: state.waitingCount)
        }
    }

    /// A worker for `key`, warm if one is idle: taken at once, on the caller's thread, or else a
    /// ticket to `wait(for:)` on, until `deadline` at most.
    ///
    /// `loop` is the event loop of the call's connection: an idle worker whose channel is on it is
    /// taken first, as the whole call then runs on one thread, where a worker on another loop costs
    /// a wake-up of that loop's thread each way. A call that must take the last idle worker from
    /// another loop, one that has served `callsBeforeLocality` calls, starts one more on its own
    /// loop when the function has room for it.
    /// - Throws: `HostError.saturated` when the queue is full or the call cannot start before its
    ///   deadline, `.functionNotFound` when the version was deleted meanwhile, or the error that
    ///   kept a worker from starting.
    func acquire(_ key: FunctionKey, deadline: ContinuousClock.Instant, near loop: (any EventLoop)? = nil) throws -> Acquired {
        try locked { inner, effects in
            guard !inner.stopped else { throw HostError.zygoteUnavailable("the server is stopping") }
            while true {
                let workers = inner.workers
                let acquisition = inner.state.acquire(key, now: .now, deadline: deadline) { pid in
                    loop == nil || workers[pid]?.eventLoop === loop
                }
                switch acquisition {
                case .use(let pid):
                    // A worker killed while idle may not have been noticed yet: it is never handed out.
                    guard let worker = workers[pid], worker.isAlive else {
                        discard(pid, &inner, &effects)
                        continue
                    }
                    if let loop, worker.eventLoop !== loop, (inner.service[pid]?.served ?? 0) >= Self.callsBeforeLocality {
                        // Not a cold start: no call waits for it.
                        for case .spawn(let key) in inner.state.addWorker(for: key) { effects.append(.spawn(key, near: loop)) }
                    }
                    return .worker(worker)
                case .saturated(let retryAfter):
                    throw HostError.saturated(retryAfterSeconds: retryAfter.wholeSecondsRoundedUp)
                case .gone:
                    throw HostError.functionNotFound(key.name)
                case .wait(let ticket, let actions):
                    // An event-loop timer, cancelled when a worker comes: cheap enough for every queued call.
                    let remaining = TimeAmount.nanoseconds(max(0, (deadline - .now).nanoseconds))
                    let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: remaining) { [weak self] in
                        guard let self else { return }
                        self.giveUp(ticket: ticket, key: key)
                    }
                    inner.waiters[ticket] = Waiter(timer: timer)
                    perform(actions, &inner, &effects)
                    return .waiting(ticket)
                }
            }
        }
    }

    /// The worker handed to the call waiting on `ticket`, or the error that ends its wait. Every
    /// ticket `acquire` gives is waited on: a worker handed to it is busy until then.
    func wait(for ticket: UInt64) async throws -> WorkerConnection {
        try await withCheckedThrowingContinuation { continuation in
            locked { inner, effects in
                guard var waiter = inner.waiters[ticket] else {
                    return effects.append(.resume(continuation, .failure(HostError.saturated(retryAfterSeconds: 1))))
                }
                if let answer = waiter.answer {
                    inner.waiters[ticket] = nil
                    effects.append(.resume(continuation, answer))
                } else {
                    waiter.continuation = continuation
                    inner.waiters[ticket] = waiter
                }
            }
        }
    }

    /// A worker taken at once, or the ticket of a call that waits for one.
    enum Acquired {
        case worker(WorkerConnection)
        case waiting(UInt64)
    }

    /// Returns a worker after a call. A worker that failed the call is removed instead, and so is
    /// one that has served its share of calls or, read every `rssCheckInterval` calls outside the
    /// lock, grown past the resident memory bound.
    public func release(_ worker: WorkerConnection, healthy: Bool) {
        let readMemory = locked { inner, effects in
            guard healthy && worker.isActive, var record = inner.service[worker.pid] else {
                discard(worker.pid, &inner, &effects)
                return false
            }
            record.served += 1
            inner.service[worker.pid] = record
            if record.served >= record.limit {
                effects.append(.log(.info, "worker recycled", ["pid": "\(worker.pid)", "calls": "\(record.served)"]))
                discard(worker.pid, &inner, &effects)
                return false
            }
            if record.served % recycling.rssCheckInterval == 0 { return true }
            perform(inner.state.release(worker.pid, now: .now), &inner, &effects)
            return false
        }
        guard readMemory else { return }
        let rss = ResidentMemory.bytes(of: worker.pid)
        locked { inner, effects in
            // The worker may have ended meanwhile, and its pid gone to another.
            guard inner.workers[worker.pid] === worker else { return }
            if let rss, rss > recycling.rssBytes {
                effects.append(.log(.info, "worker recycled", ["pid": "\(worker.pid)", "rss_bytes": "\(rss)"]))
                discard(worker.pid, &inner, &effects)
            } else {
                perform(inner.state.release(worker.pid, now: .now), &inner, &effects)
            }
        }
    }

    /// `function` now serves, with its settings; idle workers of other versions retire. `worker`,
    /// if given, is the one that loaded it, and becomes its first warm worker.
    public func makeCurrent(_ function: FunctionVersion, adopting worker: WorkerConnection? = nil) {
        locked { inner, effects in
            if inner.stopped {
                if let worker { effects.append(.terminate(worker)) }
                return
            }
            let adopted = worker.flatMap { track($0, &inner, &effects) ? $0 : nil }
            let actions = inner.state.makeCurrent(
                name: function.name, key: function.key, perFunction: function.concurrency, minWarm: function.minWarm,
                adopting: adopted.map { ($0.pid, .now) })
            perform(actions, &inner, &effects)
        }
    }

    /// The function is gone: all its workers retire and its waiting calls fail.
    public func removeFunction(_ name: String) {
        locked { inner, effects in
            let (failed, actions) = inner.state.removeFunction(name)
            for ticket in failed { answer(ticket, .failure(HostError.functionNotFound(name)), &inner, &effects) }
            perform(actions, &inner, &effects)
        }
    }

    /// Retires idle workers past the idle timeout, and idle workers that burn CPU.
    public func expireIdle() {
        let idle = locked { inner, effects in
            perform(inner.state.expire(now: .now), &inner, &effects)
            return inner.state.idleWorkers
        }
        // Read outside the lock: calls take and return workers meanwhile.
        let used = idle.compactMap { worker in CPUTime.used(by: worker.worker).map { (worker, $0) } }
        locked { inner, effects in retireSpinningIdleWorkers(used, now: .now, &inner, &effects) }
    }

    /// Ends idle workers that have used more than `idleCPUBudget` of CPU, over their life, in the
    /// intervals between checks when they were idle throughout: a thread a handler left running
    /// after its call returned. Between calls a worker has nothing to do, so this never ends a
    /// worker that only serves calls. `used` is each idle worker's CPU time, read just before.
    private func retireSpinningIdleWorkers(
        _ used: [((worker: Int32, since: ContinuousClock.Instant), Duration)], now: ContinuousClock.Instant,
        _ inner: inout Inner, _ effects: inout [Effect]
    ) {
        let stillIdle = Dictionary(inner.state.idleWorkers.map { ($0.worker, $0.since) }, uniquingKeysWith: { first, _ in first })
        for ((pid, since), cpu) in used where stillIdle[pid] == since {
            var record = inner.idleCPU[pid] ?? (cpu, now, .zero)
            if record.at >= since { record.spent += cpu - record.cpu }
            record.cpu = cpu
            record.at = now
            inner.idleCPU[pid] = record
            if record.spent > Self.idleCPUBudget {
                effects.append(.log(.warning, "worker retired: it used CPU while idle", ["pid": "\(pid)", "cpu": "\(record.spent)"]))
                HostMetrics.workerDeath(cause: "idle_cpu")
                discard(pid, &inner, &effects)
            }
        }
        let workers = inner.workers
        inner.idleCPU = inner.idleCPU.filter { workers[$0.key] != nil }
    }

    /// Calls a worker serves before a call crossing to it from another event loop starts one on
    /// the caller's: a start costs a fork and a module load (~2 ms of CPU), a crossing ~40 µs, so
    /// only a function called this often gains from it.
    static let callsBeforeLocality = 64

    /// CPU a worker may use while idle over its life before it is ended.
    static let idleCPUBudget = Duration.milliseconds(200)

    /// Ends every worker (the server is stopping).
    public func shutdown() {
        locked { inner, effects in
            inner.stopped = true
            effects += inner.workers.values.map { .terminate($0) }
            inner.workers = [:]
            for ticket in inner.waiters.keys {
                answer(ticket, .failure(HostError.zygoteUnavailable("the server is stopping")), &inner, &effects)
            }
        }
    }

    /// Keeps `worker`, and forgets it as soon as its channel closes: an idle worker killed from
    /// outside (or by the kernel) must not be handed to the next call. A worker whose pid the pool
    /// already holds (a zygote handing over a live worker's pidfd again) is ended instead; returns
    /// whether it was kept.
    private func track(_ worker: WorkerConnection, _ inner: inout Inner, _ effects: inout [Effect]) -> Bool {
        guard inner.workers[worker.pid] == nil else {
            effects.append(.log(.error, "a zygote handed over a worker the pool already holds", ["pid": "\(worker.pid)"]))
            effects.append(.terminate(worker))
            return false
        }
        inner.workers[worker.pid] = worker
        inner.service[worker.pid] = (0, recycling.drawLimit(using: &inner.random))
        effects.append(.watch(worker))
        return true
    }

    private func closed(_ worker: WorkerConnection) {
        locked { inner, effects in
            guard inner.workers[worker.pid] === worker else { return }
            inner.workers[worker.pid] = nil
            inner.service[worker.pid] = nil
            perform(inner.state.removed(worker.pid), &inner, &effects)
        }
    }

    private func discard(_ pid: Int32, _ inner: inout Inner, _ effects: inout [Effect]) {
        if let worker = inner.workers.removeValue(forKey: pid) { effects.append(.terminate(worker)) }
        inner.service[pid] = nil
        perform(inner.state.removed(pid), &inner, &effects)
    }

    /// The deadline passed before a worker came: no user code ran, so a retry can succeed.
    private func giveUp(ticket: UInt64, key: FunctionKey) {
        locked { inner, effects in
            guard inner.state.cancel(ticket: ticket, key: key) else { return }
            answer(ticket, .failure(HostError.saturated(retryAfterSeconds: 1)), &inner, &effects)
        }
    }

    /// Answers the call waiting on `ticket`, now or when it has suspended.
    private func answer(_ ticket: UInt64, _ result: Result<WorkerConnection, any Error>, _ inner: inout Inner, _ effects: inout [Effect]) {
        guard var waiter = inner.waiters[ticket], waiter.answer == nil else { return }
        if let timer = waiter.timer { effects.append(.cancel(timer)) }
        if let continuation = waiter.continuation {
            inner.waiters[ticket] = nil
            effects.append(.resume(continuation, result))
        } else {
            waiter.answer = result
            waiter.timer = nil
            inner.waiters[ticket] = waiter
        }
    }

    /// Carries out the state's actions. `spawnError` is what fails the calls a failed spawn was for.
    private func perform(_ actions: [PoolState.Action], spawnError: (any Error)? = nil, _ inner: inout Inner, _ effects: inout [Effect]) {
        for action in actions {
            switch action {
            case .hand(let ticket, let pid):
                // Only a stopping pool has dropped a worker its state still holds.
                let worker = inner.workers[pid]
                answer(
                    ticket, worker.map { .success($0) } ?? .failure(HostError.zygoteUnavailable("the server is stopping")), &inner, &effects
                )
            case .spawn(let key):
                guard !inner.stopped else { continue }
                HostMetrics.coldStart(key)
                effects.append(.spawn(key, near: nil))
            case .retire(let pid):
                inner.service[pid] = nil
                if let worker = inner.workers.removeValue(forKey: pid) { effects.append(.terminate(worker)) }
            case .fail(let ticket):
                let error = spawnError ?? HostError.zygoteUnavailable("no worker could be started")
                answer(ticket, .failure(error), &inner, &effects)
            case .shed(let ticket, let retryAfter):
                answer(ticket, .failure(HostError.saturated(retryAfterSeconds: retryAfter.wholeSecondsRoundedUp)), &inner, &effects)
            }
        }
    }

    private func spawn(_ key: FunctionKey, near loop: (any EventLoop)?) async {
        do {
            let worker = try await spawner(key, loop)
            try locked { inner, effects in
                guard !inner.stopped else { return effects.append(.terminate(worker)) }
                guard track(worker, &inner, &effects) else {
                    throw HostError.protocolViolation("a zygote handed over a worker the pool already holds")
                }
                perform(inner.state.spawned(worker.pid, key: key, now: .now), &inner, &effects)
            }
        } catch {
            logger.error("worker failed to start", metadata: ["function": "\(key)", "error": "\(error)"])
            locked { inner, effects in perform(inner.state.spawnFailed(key: key), spawnError: error, &inner, &effects) }
        }
    }

    /// Changes the state under the lock, then does what the change calls for.
    private func locked<Value>(_ change: (inout Inner, inout [Effect]) throws -> Value) rethrows -> Value {
        var effects: [Effect] = []
        defer { run(effects) }
        return try inner.withLock { inner in try change(&inner, &effects) }
    }

    private func run(_ effects: [Effect]) {
        for effect in effects {
            switch effect {
            case .resume(let continuation, let result): continuation.resume(with: result)
            case .cancel(let timer): timer.cancel()
            case .spawn(let key, let loop): Task { await self.spawn(key, near: loop) }
            case .terminate(let worker): worker.terminate()
            case .watch(let worker): worker.onClose { [weak self] in self?.closed(worker) }
            case .log(let level, let message, let metadata): logger.log(level: level, message, metadata: metadata)
            }
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
