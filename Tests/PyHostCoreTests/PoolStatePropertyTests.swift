import Testing

@testable import PyHostCore

/// Drives `PoolState` with random interleavings of every event the pool sees, and checks its
/// invariants after each: counts never negative, caps never exceeded, every worker owned by
/// exactly one slot, and every action about a worker or a call the state actually holds.
@Suite(.timeLimit(.minutes(1))) struct PoolStatePropertyTests {
    static let names = ["alpha", "beta", "gamma"]

    @Test(arguments: 0..<200) func invariantsHoldUnderRandomInterleavings(seed: UInt64) throws {
        var driver = PoolDriver(seed: seed)
        for _ in 0..<300 {
            try driver.step()
            try driver.checkInvariants()
        }
        try driver.drain()
    }
}

/// Plays the world around the pool: it keeps what it was told (starts pending, workers alive,
/// calls waiting) and fails the test when an action contradicts it.
struct PoolDriver {
    let limits = PoolLimits(perFunction: 2, total: 5, queueDepth: 3, idleTimeout: .seconds(3))
    var state: PoolState
    var random: SplitMix64
    var now = ContinuousClock.now
    var nextPID: Int32 = 100
    var instances = 0
    /// The keys each function has had since it was last deleted, and before: a rollback may pick
    /// the former, a call that raced a delete the latter too.
    var keys: [String: [FunctionKey]] = [:]
    var deleted: [String: [FunctionKey]] = [:]
    var serving: [String: FunctionKey] = [:]
    var pendingStarts: [FunctionKey] = []
    var alive: [Int32: FunctionKey] = [:]
    var busy: Set<Int32> = []
    var waiting: [UInt64: FunctionKey] = [:]

    init(seed: UInt64) {
        state = PoolState(limits: limits)
        random = SplitMix64(seed: seed)
    }

    mutating func step() throws {
        now += .milliseconds(Int64(random.next(below: 1500)))
        let name = PoolStatePropertyTests.names[random.next(below: 3)]
        switch random.next(below: 11) {
        case 0, 1, 2:
            guard let key = someKey(of: name) else { return try deploy(name) }
            // Odd or even pids stand for the workers on the call's own event loop.
            let near = Int32(random.next(below: 2))
            switch state.acquire(key, now: now, deadline: now + .seconds(Int64(1 + random.next(below: 4))), preferring: { $0 % 2 == near })
            {
            case .use(let pid):
                try #require(alive[pid] == key && !busy.contains(pid), "handed \(pid), which is not an idle worker of \(key)")
                busy.insert(pid)
                if pid % 2 != near { try apply(state.addWorker(for: key)) }
            case .wait(let ticket, let actions):
                waiting[ticket] = key
                try apply(actions)
            case .saturated, .gone:
                break
            }
        case 3:
            guard let pid = busy.randomElement(using: &random) else { return }
            busy.remove(pid)
            try apply(state.release(pid, now: now))
        case 4, 5:
            guard !pendingStarts.isEmpty else { return }
            let key = pendingStarts.remove(at: random.next(below: pendingStarts.count))
            let pid = nextPID
            nextPID += 1
            alive[pid] = key
            try apply(state.spawned(pid, key: key, now: now))
        case 6:
            guard !pendingStarts.isEmpty else { return }
            try apply(state.spawnFailed(key: pendingStarts.remove(at: random.next(below: pendingStarts.count))))
        case 7:
            guard let pid = alive.keys.randomElement(using: &random) else { return }
            alive[pid] = nil
            busy.remove(pid)
            try apply(state.removed(pid))
        case 8:
            try deploy(name)
        case 9:
            let (failed, actions) = state.removeFunction(name)
            for ticket in failed {
                let removed = waiting.removeValue(forKey: ticket)
                try #require(removed != nil, "failed a call not waiting")
            }
            serving[name] = nil
            deleted[name, default: []] += keys.removeValue(forKey: name) ?? []
            try apply(actions)
        default:
            if let (ticket, key) = waiting.randomElement(using: &random), state.cancel(ticket: ticket, key: key) {
                waiting[ticket] = nil
            }
            try apply(state.expire(now: now))
        }
    }

    /// A deploy or a rollback: a new version, or an older one, becomes current, sometimes with the
    /// worker that loaded it (only within the caps, as the host's loader is).
    mutating func deploy(_ name: String) throws {
        let key: FunctionKey
        if let old = keys[name]?.randomElement(using: &random), random.next(below: 3) == 0 {
            key = old
        } else {
            instances += 1
            key = FunctionKey(name: name, version: (keys[name]?.count ?? 0) + 1, instance: "i\(instances)")
            keys[name, default: []].append(key)
        }
        serving[name] = key
        var adopting: (Int32, ContinuousClock.Instant)?
        if random.next(below: 2) == 0, state.liveCount < limits.total, live(of: name) < limits.perFunction {
            adopting = (nextPID, now)
            alive[nextPID] = key
            nextPID += 1
        }
        try apply(state.makeCurrent(name: name, key: key, minWarm: random.next(below: 3), adopting: adopting))
    }

    mutating func apply(_ actions: [PoolState.Action]) throws {
        for action in actions {
            switch action {
            case .hand(let ticket, let pid):
                let removed = waiting.removeValue(forKey: ticket)
                let key = try #require(removed, "handed a worker to a call not waiting")
                try #require(alive[pid] == key && !busy.contains(pid), "handed \(pid), which is not an idle worker of \(key)")
                busy.insert(pid)
            case .spawn(let key):
                pendingStarts.append(key)
            case .retire(let pid):
                try retireWorker(pid)
            case .fail(let ticket), .shed(let ticket, _):
                let removed = waiting.removeValue(forKey: ticket)
                try #require(removed != nil, "failed a call not waiting")
            }
        }
    }

    mutating func retireWorker(_ pid: Int32) throws {
        let removed = alive.removeValue(forKey: pid)
        try #require(removed != nil, "retired \(pid), which is not alive")
        busy.remove(pid)
    }

    func someKey(of name: String) -> FunctionKey? {
        var copy = random
        return ((keys[name] ?? []) + (deleted[name] ?? [])).randomElement(using: &copy)
    }

    func live(of name: String) -> Int {
        state.slots.reduce(0) { $0 + ($1.key.name == name && !$1.value.tombstone ? $1.value.live : 0) }
    }

    func checkInvariants() throws {
        var owned: [Int32: FunctionKey] = [:]
        for (key, slot) in state.slots {
            try #require(slot.starting >= 0, "negative starts for \(key)")
            try #require(!slot.isEmpty, "an empty slot for \(key) is kept")
            if slot.tombstone { try #require(slot.idle.isEmpty && slot.waiters.isEmpty, "a deleted version keeps only calls in flight") }
            for pid in slot.idle.map(\.worker) + slot.busy.keys {
                let previous = owned.updateValue(key, forKey: pid)
                try #require(previous == nil, "\(pid) is in two slots")
            }
        }
        try #require(owned == state.owners, "owners disagree with the slots")
        try #require(Set(owned.keys) == Set(alive.keys), "the pool's workers are not the ones alive")
        try #require(state.slots.values.reduce(0) { $0 + $1.starting } == pendingStarts.count, "starts lost or invented")
        try #require(state.liveCount <= limits.total, "over the total cap")
        for name in PoolStatePropertyTests.names {
            try #require(live(of: name) <= limits.perFunction, "\(name) over its cap")
        }
        try #require(state.waitingCount == waiting.count, "waiting calls lost or invented")
    }

    /// Every start reports, every call returns its worker: nothing is left waiting for a worker
    /// that will never come, unless its function was deleted.
    mutating func drain() throws {
        var steps = 0
        while !pendingStarts.isEmpty || !busy.isEmpty {
            steps += 1
            try #require(steps < 10_000, "draining does not end: a start loop")
            if let key = pendingStarts.popLast() {
                alive[nextPID] = key
                nextPID += 1
                try apply(state.spawned(nextPID - 1, key: key, now: now))
            } else if let pid = busy.popFirst() {
                try apply(state.release(pid, now: now))
            }
            try checkInvariants()
        }
        #expect(waiting.isEmpty, "calls left waiting with no worker coming")
    }
}

/// A seeded generator, so a failing interleaving replays exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next(below bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }
}
