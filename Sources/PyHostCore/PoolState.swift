import DequeModule

/// One version of one function: the unit a worker serves.
public struct FunctionKey: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let version: Int

    public init(name: String, version: Int) {
        self.name = name
        self.version = version
    }

    public var description: String { "\(name)@\(version)" }
}

/// The pool's sizes and timings.
public struct PoolLimits: Sendable, Equatable {
    /// Workers one function version may have at once.
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
/// Workers are pids; waiting calls are tickets. Idle workers are a stack per function (the warmest
/// serves next) and the least recently used idle worker anywhere is the first evicted.
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
    }

    enum Acquisition: Equatable {
        case use(Int32)
        case wait(ticket: UInt64, actions: [Action])
        case saturated
    }

    private struct Slot {
        var idle: [(worker: Int32, since: Instant)] = []
        var busy: Set<Int32> = []
        var starting = 0
        var waiters: Deque<UInt64> = []

        var live: Int { idle.count + busy.count + starting }
        var isEmpty: Bool { live == 0 && waiters.isEmpty }

    }

    let limits: PoolLimits
    private var slots: [FunctionKey: Slot] = [:]
    private var owners: [Int32: FunctionKey] = [:]
    private var current: [String: Int] = [:]
    /// Per-version settings: a worker limit other than `limits.perFunction`, and workers kept warm.
    private var settings: [FunctionKey: (perFunction: Int?, minWarm: Int)] = [:]
    private var nextTicket: UInt64 = 1

    init(limits: PoolLimits) {
        self.limits = limits
    }

    var liveCount: Int { slots.values.reduce(0) { $0 + $1.live } }
    var idleCount: Int { slots.values.reduce(0) { $0 + $1.idle.count } }
    var busyCount: Int { slots.values.reduce(0) { $0 + $1.busy.count } }
    var waitingCount: Int { slots.values.reduce(0) { $0 + $1.waiters.count } }

    /// Marks `version` as the one `name` serves, with its settings; the idle workers of its other
    /// versions retire, and workers start for `minWarm`.
    /// `adopting` is the worker that loaded the version (a deploy's or rollback's), which joins first.
    mutating func makeCurrent(
        name: String, version: Int?, perFunction: Int? = nil, minWarm: Int = 0, adopting: (worker: Int32, now: Instant)? = nil
    ) -> [Action] {
        current[name] = version
        for key in settings.keys where key.name == name { settings[key] = nil }
        if let version { settings[FunctionKey(name: name, version: version)] = (perFunction, minWarm) }
        var actions: [Action] = []
        for key in slots.keys where key.name == name && key.version != version {
            actions += slots[key]!.idle.map { .retire($0.worker) }
            for (worker, _) in slots[key]!.idle { owners[worker] = nil }
            slots[key]!.idle = []
            prune(key)
        }
        if let version, let (worker, now) = adopting {
            return actions + adopt(worker, key: FunctionKey(name: name, version: version), now: now)
        }
        return actions + pump()
    }

    mutating func acquire(_ key: FunctionKey) -> Acquisition {
        var slot = slots[key] ?? Slot()
        if let (worker, _) = slot.idle.popLast() {
            slot.busy.insert(worker)
            slots[key] = slot
            return .use(worker)
        }
        // Calls that a new worker will serve are not queued; beyond that, at most `queueDepth` wait.
        let room = max(0, perFunctionLimit(key) - slot.live)
        guard slot.waiters.count - slot.starting < limits.queueDepth + room else { return .saturated }
        let ticket = nextTicket
        nextTicket += 1
        slot.waiters.append(ticket)
        slots[key] = slot
        return .wait(ticket: ticket, actions: pump())
    }

    /// A call is done with `worker`, which is still healthy.
    mutating func release(_ worker: Int32, now: Instant) -> [Action] {
        guard let key = owners[worker] else { return [] }
        slots[key]!.busy.remove(worker)
        return offer(worker, key: key, now: now)
    }

    mutating func spawned(_ worker: Int32, key: FunctionKey, now: Instant) -> [Action] {
        slots[key, default: Slot()].starting -= 1
        owners[worker] = key
        return offer(worker, key: key, now: now)
    }

    /// A worker that loaded outside the pool (a deploy's validation) joins it.
    mutating func adopt(_ worker: Int32, key: FunctionKey, now: Instant) -> [Action] {
        owners[worker] = key
        var actions = offer(worker, key: key, now: now)
        if liveCount > limits.total, let victim = leastRecentlyUsedIdle(excluding: nil) {
            actions.append(evict(victim))
        }
        return actions
    }

    mutating func spawnFailed(key: FunctionKey) -> [Action] {
        slots[key, default: Slot()].starting -= 1
        var actions: [Action] = []
        if let ticket = slots[key]!.waiters.popFirst() { actions.append(.fail(ticket: ticket)) }
        prune(key)
        return actions + pump()
    }

    /// `worker` died or was killed; it is no longer counted.
    mutating func removed(_ worker: Int32) -> [Action] {
        guard let key = owners.removeValue(forKey: worker) else { return [] }
        slots[key]!.busy.remove(worker)
        slots[key]!.idle.removeAll { $0.worker == worker }
        prune(key)
        return pump()
    }

    /// A waiting call gave up (its deadline passed). Returns whether it was still waiting.
    mutating func cancel(ticket: UInt64, key: FunctionKey) -> Bool {
        guard let index = slots[key]?.waiters.firstIndex(of: ticket) else { return false }
        slots[key]!.waiters.remove(at: index)
        prune(key)
        return true
    }

    /// Retires idle workers that have waited longer than the idle timeout.
    mutating func expire(now: Instant) -> [Action] {
        var actions: [Action] = []
        for key in slots.keys {
            var (old, fresh) = slots[key]!.idle.partitioned { now - $0.since >= limits.idleTimeout }
            // Workers kept warm stay, the most recently used first.
            let keep = min(old.count, max(0, minWarm(key) - (slots[key]!.live - old.count)))
            fresh = Array(old.suffix(keep)) + fresh
            old.removeLast(keep)
            slots[key]!.idle = fresh
            for (worker, _) in old {
                owners[worker] = nil
                actions.append(.retire(worker))
            }
            prune(key)
        }
        return actions
    }

    /// Every worker of `name`, of any version, to retire now (the function was deleted).
    mutating func removeFunction(_ name: String) -> (retire: [Int32], failed: [UInt64]) {
        current[name] = nil
        for key in settings.keys where key.name == name { settings[key] = nil }
        var retire: [Int32] = []
        var failed: [UInt64] = []
        for key in slots.keys where key.name == name {
            let slot = slots.removeValue(forKey: key)!
            retire += slot.idle.map(\.worker) + slot.busy
            failed += slot.waiters
        }
        for worker in retire { owners[worker] = nil }
        return (retire, failed)
    }

    private mutating func offer(_ worker: Int32, key: FunctionKey, now: Instant) -> [Action] {
        if slots[key] == nil { slots[key] = Slot() }
        if current[key.name] != key.version && slots[key]!.waiters.isEmpty {
            owners[worker] = nil
            prune(key)
            return [.retire(worker)] + pump()
        }
        if let ticket = slots[key]!.waiters.popFirst() {
            slots[key]!.busy.insert(worker)
            return [.hand(ticket: ticket, worker: worker)]
        }
        slots[key]!.idle.append((worker, now))
        return pump()
    }

    /// Starts workers for calls that wait, within the per-function and total limits, evicting the
    /// least recently used idle worker of another function when the total is reached.
    private mutating func pump() -> [Action] {
        var actions: [Action] = []
        for key in slots.keys {
            while let slot = slots[key], slot.waiters.count > slot.starting, slot.live < perFunctionLimit(key) {
                if liveCount >= limits.total {
                    guard let victim = leastRecentlyUsedIdle(excluding: key) else { return actions }
                    actions.append(evict(victim))
                }
                slots[key]!.starting += 1
                actions.append(.spawn(key))
            }
        }
        // Workers kept warm start within the total, without evicting anyone's.
        for (key, setting) in settings where setting.minWarm > 0 && current[key.name] == key.version {
            while (slots[key]?.live ?? 0) < min(setting.minWarm, perFunctionLimit(key)), liveCount < limits.total {
                slots[key, default: Slot()].starting += 1
                actions.append(.spawn(key))
            }
        }
        return actions
    }

    private func perFunctionLimit(_ key: FunctionKey) -> Int {
        settings[key]?.perFunction ?? limits.perFunction
    }

    private func minWarm(_ key: FunctionKey) -> Int {
        current[key.name] == key.version ? settings[key]?.minWarm ?? 0 : 0
    }

    private func leastRecentlyUsedIdle(excluding excluded: FunctionKey?) -> Int32? {
        slots.filter { $0.key != excluded }
            .flatMap { $0.value.idle }
            .min { $0.since < $1.since }?.worker
    }

    private mutating func evict(_ worker: Int32) -> Action {
        let key = owners.removeValue(forKey: worker)!
        slots[key]!.idle.removeAll { $0.worker == worker }
        prune(key)
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
