import DequeModule

/// One stored version of one function: the unit a worker serves.
public struct FunctionKey: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let version: Int
    /// Random and never reused: after a delete, a function deployed again under the same name
    /// numbers its versions from 1 again, and only this tells its workers from the deleted ones.
    public let instance: String

    public init(name: String, version: Int, instance: String) {
        self.name = name
        self.version = version
        self.instance = instance
    }

    public var description: String { "\(name)@\(version)" }
}

/// The pool's sizes and timings.
public struct PoolLimits: Sendable, Equatable {
    /// Workers one function may have at once, across all its versions.
    public var perFunction: Int
    /// Workers alive across all functions.
    public var total: Int
    /// Calls that may wait for a worker, per function version.
    public var queueDepth: Int
    /// An idle worker older than this retires.
    public var idleTimeout: Duration

    public init(perFunction: Int, total: Int, queueDepth: Int, idleTimeout: Duration) {
        self.perFunction = perFunction
        self.total = total
        self.queueDepth = queueDepth
        self.idleTimeout = idleTimeout
    }
}

/// The pool's decisions, with no I/O and no clock of its own: events in, actions out.
///
/// Workers are pids; waiting calls are tickets. Idle workers are a stack per version (the warmest
/// serves next) and the least recently used idle worker anywhere is the first evicted.
///
/// Invariants, which `PoolStatePropertyTests` checks after every event of random interleavings:
/// every worker belongs to exactly one slot; no count is negative; a slot is dropped only when it
/// has no worker, no start and no waiting call; a deleted version's slot stays as a tombstone
/// until its starts report, and the workers they bring retire at once.
struct PoolState {
    typealias Instant = ContinuousClock.Instant

    enum Action: Equatable {
        /// Give `worker` to the call waiting on `ticket`.
        case hand(ticket: UInt64, worker: Int32)
        /// Start a worker for `key`; report it with `spawned` or `spawnFailed`.
        case spawn(FunctionKey)
        /// End `worker`: it is stale, idle too long, or its slot is needed elsewhere.
        case retire(Int32)
        /// The call waiting on `ticket` cannot be served: a spawn for it failed.
        case fail(ticket: UInt64)
        /// The call waiting on `ticket` cannot start before its deadline: refuse it now.
        case shed(ticket: UInt64, retryAfter: Duration)
    }

    enum Acquisition: Equatable {
        case use(Int32)
        case wait(ticket: UInt64, actions: [Action])
        /// Refused: the queue is full, or the call could not start before its deadline.
        case saturated(retryAfter: Duration)
        /// The version was deleted.
        case gone
    }

    struct Waiter: Equatable {
        let ticket: UInt64
        let deadline: Instant
    }

    struct Slot {
        var idle: [(worker: Int32, since: Instant)] = []
        /// Busy workers, with when their call began.
        var busy: [Int32: Instant] = [:]
        var starting = 0
        var waiters: Deque<Waiter> = []
        /// The version was deleted: only its pending starts keep the slot.
        var tombstone = false
        /// A start failed: workers kept warm are not started again until one succeeds.
        var startFailed = false

        var live: Int { idle.count + busy.count + starting }
        var isEmpty: Bool { live == 0 && waiters.isEmpty }
    }

    struct Setting: Equatable {
        var perFunction: Int?
        var minWarm: Int
    }

    let limits: PoolLimits
    private(set) var slots: [FunctionKey: Slot] = [:]
    private(set) var owners: [Int32: FunctionKey] = [:]
    /// The version each function serves, with its settings.
    private var current: [String: (key: FunctionKey, setting: Setting)] = [:]
    /// A moving average of how long a call holds a worker, per function.
    private var serviceTime: [String: Duration] = [:]
    private var nextTicket: UInt64 = 1

    init(limits: PoolLimits) {
        self.limits = limits
    }

    var liveCount: Int { slots.values.reduce(0) { $0 + $1.live } }
    var idleCount: Int { slots.values.reduce(0) { $0 + $1.idle.count } }
    var busyCount: Int { slots.values.reduce(0) { $0 + $1.busy.count } }
    var waitingCount: Int { slots.values.reduce(0) { $0 + $1.waiters.count } }
    /// Workers and waiting calls of each function, across its versions.
    var countsByFunction: [String: WorkerPool.Counts] {
        slots.reduce(into: [:]) { counts, entry in
            let (key, slot) = entry
            let sum = counts[key.name] ?? WorkerPool.Counts(live: 0, idle: 0, busy: 0, waiting: 0)
            counts[key.name] = WorkerPool.Counts(
                live: sum.live + slot.live, idle: sum.idle + slot.idle.count, busy: sum.busy + slot.busy.count,
                waiting: sum.waiting + slot.waiters.count)
        }
    }
    /// Every idle worker, with when it became idle.
    var idleWorkers: [(worker: Int32, since: Instant)] { slots.values.flatMap(\.idle) }

    /// Marks `key` as the version its function serves, with its settings (nil: the function serves
    /// nothing); the idle workers of its other versions retire, and workers start for `minWarm`.
    /// `adopting` is the worker that loaded the version (a deploy's or rollback's), which joins first.
    mutating func makeCurrent(
        name: String, key: FunctionKey?, perFunction: Int? = nil, minWarm: Int = 0, adopting: (worker: Int32, now: Instant)? = nil
    ) -> [Action] {
        current[name] = key.map { ($0, Setting(perFunction: perFunction, minWarm: minWarm)) }
        var actions: [Action] = []
        for other in slots.keys where other.name == name && other != key {
            actions += retireIdle(of: other)
        }
        if let key {
            slots[key]?.startFailed = false
            if let (worker, now) = adopting { return actions + adopt(worker, key: key, now: now) }
        }
        return actions + pump()
    }

    /// A worker for a call to `key` that must start before `deadline`: the warmest idle one that is
    /// `preferred`, else the warmest.
    mutating func acquire(
        _ key: FunctionKey, now: Instant, deadline: Instant, preferring preferred: (Int32) -> Bool = { _ in true }
    ) -> Acquisition {
        guard slots[key]?.tombstone != true else { return .gone }
        // The slot is changed where it is: a copy taken out and written back would copy its collections.
        if let index = slots[key].flatMap({ $0.idle.lastIndex { preferred($0.worker) } ?? $0.idle.indices.last }) {
            let worker = slots[key]!.idle.remove(at: index).worker
            slots[key]!.busy[worker] = now
            return .use(worker)
        }
        var slot = slots[key] ?? Slot()
        // Calls that a new worker will serve are not queued; beyond that, at most `queueDepth` wait,
        // and only if the function's recent pace lets them start before their deadline.
        let room = max(0, perFunctionLimit(key.name) - live(of: key.name))
        let queued = slot.waiters.count - slot.starting - room
        let wait = expectedWait(name: key.name, queuedAhead: queued)
        guard queued < limits.queueDepth else { return .saturated(retryAfter: wait ?? .seconds(1)) }
        if let wait, queued >= 0, !canFinish(name: key.name, after: wait, from: now, by: deadline) {
            return .saturated(retryAfter: wait)
        }
        let ticket = nextTicket
        nextTicket += 1
        slot.waiters.append(Waiter(ticket: ticket, deadline: deadline))
        slots[key] = slot
        return .wait(ticket: ticket, actions: pump())
    }

    /// One more worker for `key`, the version its function serves, when a call had to take a worker
    /// from another event loop than its own (see `WorkerPool.acquire`) and it was the last idle
    /// one: so a function keeps at most one worker more than its calls in flight, within its limit
    /// and the host's, evicting no one's, one start at a time.
    mutating func addWorker(for key: FunctionKey) -> [Action] {
        guard let slot = slots[key], current[key.name]?.key == key, !slot.tombstone, !slot.startFailed, slot.starting == 0,
            slot.idle.isEmpty, live(of: key.name) < perFunctionLimit(key.name), liveCount < limits.total
        else { return [] }
        slots[key]!.starting += 1
        return [.spawn(key)]
    }

    /// A call is done with `worker`, which is still healthy.
    mutating func release(_ worker: Int32, now: Instant) -> [Action] {
        guard let key = owners[worker], let began = slots[key]?.busy.removeValue(forKey: worker) else { return [] }
        let sample = now - began
        serviceTime[key.name] = serviceTime[key.name].map { $0 * 0.8 + sample * 0.2 } ?? sample
        let actions = offer(worker, key: key, now: now, mayYield: true)
        // Most releases find nobody waiting: only a queue needs its deadlines checked again.
        return slots[key]?.waiters.isEmpty == false ? actions + shed(key, now: now) : actions
    }

    mutating func spawned(_ worker: Int32, key: FunctionKey, now: Instant) -> [Action] {
        guard var slot = slots[key] else { return [.retire(worker)] }
        slot.starting = max(0, slot.starting - 1)
        slot.startFailed = false
        slots[key] = slot
        if slot.tombstone {
            prune(key)
            return [.retire(worker)] + pump()
        }
        owners[worker] = key
        return offer(worker, key: key, now: now)
    }

    /// A worker that loaded outside the pool (a deploy's validation) joins it.
    mutating func adopt(_ worker: Int32, key: FunctionKey, now: Instant) -> [Action] {
        if slots[key] == nil { slots[key] = Slot() }
        owners[worker] = key
        var actions = offer(worker, key: key, now: now)
        if liveCount > limits.total, let victim = leastRecentlyUsedIdle(excluding: nil) {
            actions.append(evict(victim))
        }
        return actions
    }

    mutating func spawnFailed(key: FunctionKey) -> [Action] {
        guard var slot = slots[key] else { return [] }
        slot.starting = max(0, slot.starting - 1)
        slot.startFailed = true
        var actions: [Action] = []
        if slot.waiters.count > slot.starting, let waiter = slot.waiters.popFirst() {
            actions.append(.fail(ticket: waiter.ticket))
        }
        slots[key] = slot
        prune(key)
        return actions + pump()
    }

    /// `worker` died or was killed; it is no longer counted.
    mutating func removed(_ worker: Int32) -> [Action] {
        guard let key = owners.removeValue(forKey: worker) else { return [] }
        slots[key]?.busy[worker] = nil
        slots[key]?.idle.removeAll { $0.worker == worker }
        prune(key)
        return pump()
    }

    /// A waiting call gave up (its deadline passed). Returns whether it was still waiting.
    mutating func cancel(ticket: UInt64, key: FunctionKey) -> Bool {
        guard let index = slots[key]?.waiters.firstIndex(where: { $0.ticket == ticket }) else { return false }
        slots[key]?.waiters.remove(at: index)
        prune(key)
        return true
    }

    /// Retires idle workers that have waited longer than the idle timeout.
    mutating func expire(now: Instant) -> [Action] {
        var actions: [Action] = []
        for (key, slot) in slots {
            var (old, fresh) = slot.idle.partitioned { now - $0.since >= limits.idleTimeout }
            // Workers kept warm stay, the most recently used first.
            let keep = min(old.count, max(0, minWarm(key) - (slot.live - old.count)))
            fresh = Array(old.suffix(keep)) + fresh
            old.removeLast(keep)
            slots[key]?.idle = fresh
            for (worker, _) in old {
                owners[worker] = nil
                actions.append(.retire(worker))
            }
            prune(key)
        }
        // The places freed may be what a function kept warm below its floor was waiting for.
        return actions.isEmpty ? [] : actions + pump()
    }

    /// The function was deleted: its idle workers retire now and the calls waiting for one fail.
    /// Calls in flight finish, as they do when a new version is deployed, and starts in progress
    /// report later: those workers retire then.
    mutating func removeFunction(_ name: String) -> (failed: [UInt64], actions: [Action]) {
        current[name] = nil
        serviceTime[name] = nil
        var retire: [Int32] = []
        var failed: [UInt64] = []
        for (key, slot) in slots where key.name == name {
            retire += slot.idle.map(\.worker)
            failed += slot.waiters.map(\.ticket)
            let tombstone = Slot(busy: slot.busy, starting: slot.starting, tombstone: true)
            slots[key] = tombstone.isEmpty ? nil : tombstone
        }
        for worker in retire { owners[worker] = nil }
        // The slots freed may start workers for other functions' waiting calls.
        return (failed, retire.map { .retire($0) } + pump())
    }

    /// Gives `worker` to the first call waiting for `key` that can still finish, else keeps it idle.
    /// `mayYield`: the worker just served a call, so it may give its place to a starved function
    /// (a fresh worker never does: two starved functions would pass places back and forth).
    private mutating func offer(_ worker: Int32, key: FunctionKey, now: Instant, mayYield: Bool = false) -> [Action] {
        guard let waiting = slots[key].flatMap({ $0.tombstone ? nil : !$0.waiters.isEmpty }) else {
            owners[worker] = nil
            prune(key)
            return [.retire(worker)] + pump()
        }
        if current[key.name]?.key != key && !waiting {
            owners[worker] = nil
            prune(key)
            return [.retire(worker)] + pump()
        }
        // At the total cap, a function with calls waiting and no worker at all gets this worker's
        // place: busy functions would otherwise keep their workers and starve it.
        if mayYield, waiting, liveCount + 1 >= limits.total, let starved = starvedFunction(besides: key.name) {
            owners[worker] = nil
            return [.retire(worker)] + pump(first: starved)
        }
        // A call starts only if, at the function's pace, it can finish before its deadline: one
        // that cannot would time out and cost the worker.
        var shed: [Action] = []
        while let waiter = slots[key]!.waiters.popFirst() {
            guard canFinish(name: key.name, after: .zero, from: now, by: waiter.deadline) else {
                shed.append(.shed(ticket: waiter.ticket, retryAfter: serviceTime[key.name] ?? .seconds(1)))
                continue
            }
            slots[key]!.busy[worker] = now
            return shed + [.hand(ticket: waiter.ticket, worker: worker)]
        }
        slots[key]!.idle.append((worker, now))
        // A worker back from a call changes no count: only calls waiting for a start, or a
        // function below the workers it keeps warm, need a pump.
        return shed + (mayYield && !hasStartsToMake ? [] : pump())
    }

    /// Whether some version has more calls waiting than workers starting for it, or some serving
    /// version fewer workers than it keeps warm.
    private var hasStartsToMake: Bool {
        slots.values.contains { $0.waiters.count > $0.starting }
            || current.values.contains { $0.setting.minWarm > (slots[$0.key]?.live ?? 0) }
    }

    /// Refuses the calls waiting for `key` that, at the function's recent pace, cannot start
    /// before their deadline: they learn it now rather than at the deadline. Runs on every release
    /// while calls wait, so it reads the function's pace and limit once and changes the queue only
    /// when it refuses someone.
    private mutating func shed(_ key: FunctionKey, now: Instant) -> [Action] {
        guard let slot = slots[key], !slot.waiters.isEmpty, let pace = serviceTime[key.name] else { return [] }
        let workers = perFunctionLimit(key.name)
        let ahead = slot.starting + max(0, workers - live(of: key.name))
        func refusal(_ position: Int, _ waiter: Waiter) -> Action? {
            let queued = position - ahead
            guard queued >= 0 else { return nil }
            let wait = Self.expectedWait(pace: pace, workers: workers, queuedAhead: queued)
            guard !Self.canFinish(pace: pace, after: wait, from: now, by: waiter.deadline) else { return nil }
            return .shed(ticket: waiter.ticket, retryAfter: wait)
        }
        // Most releases refuse no one: the last call's wait against the earliest deadline says so.
        let longest = Self.expectedWait(pace: pace, workers: workers, queuedAhead: slot.waiters.count - 1 - ahead)
        guard let earliest = slot.waiters.lazy.map(\.deadline).min(),
            !Self.canFinish(pace: pace, after: longest, from: now, by: earliest)
        else { return [] }
        var kept: Deque<Waiter> = []
        var actions: [Action] = []
        for (position, waiter) in slot.waiters.enumerated() {
            if let action = refusal(position, waiter) { actions.append(action) } else { kept.append(waiter) }
        }
        slots[key]?.waiters = kept
        prune(key)
        return actions
    }

    /// How long a call with `queuedAhead` calls before it waits for a worker, at the pace of the
    /// function's recent calls, as if every busy worker had just begun its call; nil before any
    /// call finished.
    private func expectedWait(name: String, queuedAhead: Int) -> Duration? {
        serviceTime[name].map { Self.expectedWait(pace: $0, workers: perFunctionLimit(name), queuedAhead: queuedAhead) }
    }

    private static func expectedWait(pace: Duration, workers: Int, queuedAhead: Int) -> Duration {
        pace * ((max(0, queuedAhead) + workers) / workers)
    }

    /// Whether a call that starts after `wait` finishes by `deadline`, with a quarter of a call's
    /// time to spare: a call refused now costs less than one that times out after waiting.
    private func canFinish(name: String, after wait: Duration, from now: Instant, by deadline: Instant) -> Bool {
        Self.canFinish(pace: serviceTime[name], after: wait, from: now, by: deadline)
    }

    private static func canFinish(pace: Duration?, after wait: Duration, from now: Instant, by deadline: Instant) -> Bool {
        guard let pace else { return true }
        return now + wait + pace * 1.25 <= deadline
    }

    /// Starts workers for calls that wait, within the per-function and total limits, evicting the
    /// least recently used idle worker of another function when the total is reached.
    private mutating func pump(first name: String? = nil) -> [Action] {
        var actions: [Action] = []
        let keys = name.map { name in slots.keys.sorted { $0.name == name && $1.name != name } } ?? Array(slots.keys)
        for key in keys {
            while let slot = slots[key], !slot.tombstone, slot.waiters.count > slot.starting {
                // At the function's cap, an idle worker of another of its versions makes room.
                if live(of: key.name) >= perFunctionLimit(key.name) {
                    guard let victim = leastRecentlyUsedIdle(excluding: key, named: key.name) else { break }
                    actions.append(evict(victim))
                }
                if liveCount >= limits.total {
                    guard let victim = leastRecentlyUsedIdle(excluding: key) else { return actions }
                    actions.append(evict(victim))
                }
                slots[key]?.starting += 1
                actions.append(.spawn(key))
            }
        }
        // Workers kept warm start within the total, without evicting anyone's, and not again
        // after a start failed (a module that no longer loads must not spin).
        for (key, setting) in current.values where setting.minWarm > 0 && slots[key]?.startFailed != true && slots[key]?.tombstone != true {
            while (slots[key]?.live ?? 0) < min(setting.minWarm, perFunctionLimit(key.name)),
                live(of: key.name) < perFunctionLimit(key.name), liveCount < limits.total
            {
                slots[key, default: Slot()].starting += 1
                actions.append(.spawn(key))
            }
        }
        return actions
    }

    /// A function other than `name` with calls waiting and no worker alive or starting.
    private func starvedFunction(besides name: String) -> String? {
        slots.first { $0.key.name != name && !$0.value.tombstone && !$0.value.waiters.isEmpty && live(of: $0.key.name) == 0 }?
            .key.name
    }

    /// Workers of every version of `name`, alive or starting: one function's share of the host.
    private func live(of name: String) -> Int {
        slots.reduce(0) { $0 + ($1.key.name == name && !$1.value.tombstone ? $1.value.live : 0) }
    }

    /// The serving version's worker limit applies to the function as a whole.
    private func perFunctionLimit(_ name: String) -> Int {
        max(1, current[name]?.setting.perFunction ?? limits.perFunction)
    }

    private func minWarm(_ key: FunctionKey) -> Int {
        current[key.name].flatMap { $0.key == key ? $0.setting.minWarm : nil } ?? 0
    }

    private func leastRecentlyUsedIdle(excluding excluded: FunctionKey?, named name: String? = nil) -> Int32? {
        slots.filter { $0.key != excluded && (name == nil || $0.key.name == name) }
            .flatMap { $0.value.idle }
            .min { $0.since < $1.since }?.worker
    }

    private mutating func retireIdle(of key: FunctionKey) -> [Action] {
        guard let idle = slots[key]?.idle else { return [] }
        for (worker, _) in idle { owners[worker] = nil }
        slots[key]?.idle = []
        prune(key)
        return idle.map { .retire($0.worker) }
    }

    private mutating func evict(_ worker: Int32) -> Action {
        if let key = owners.removeValue(forKey: worker) {
            slots[key]?.idle.removeAll { $0.worker == worker }
            prune(key)
        }
        return .retire(worker)
    }

    private mutating func prune(_ key: FunctionKey) {
        if slots[key]?.isEmpty == true { slots[key] = nil }
    }
}

extension Array {
    fileprivate func partitioned(by isFirst: (Element) -> Bool) -> ([Element], [Element]) {
        var first: [Element] = []
        var second: [Element] = []
        for element in self {
            if isFirst(element) { first.append(element) } else { second.append(element) }
        }
        return (first, second)
    }
}
