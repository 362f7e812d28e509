import Testing

@testable import PyHostCore

@Suite struct PoolStateTests {
    let hello = FunctionKey(name: "hello", version: 1, instance: "h1")
    let sales = FunctionKey(name: "sales", version: 1, instance: "s1")
    let start = ContinuousClock.now

    func makeState(perFunction: Int = 2, total: Int = 8, queueDepth: Int = 4) -> PoolState {
        var state = PoolState(
            limits: PoolLimits(perFunction: perFunction, total: total, queueDepth: queueDepth, idleTimeout: .seconds(600)))
        _ = state.makeCurrent(name: "hello", key: hello)
        _ = state.makeCurrent(name: "sales", key: sales)
        return state
    }

    /// Acquires for `key`, expecting to wait; returns the ticket and actions.
    func waitFor(_ key: FunctionKey, in state: inout PoolState) throws -> (UInt64, [PoolState.Action]) {
        guard case .wait(let ticket, let actions) = state.acquire(key, at: start) else {
            Issue.record("expected to wait")
            throw CancellationError()
        }
        return (ticket, actions)
    }

    @Test func aFirstCallSpawnsAndTheWorkerIsReusedWarm() throws {
        var state = makeState()
        let (ticket, actions) = try waitFor(hello, in: &state)
        #expect(actions == [.spawn(hello)])
        #expect(state.spawned(100, key: hello, now: start) == [.hand(ticket: ticket, worker: 100)])
        #expect(state.release(100, now: start).isEmpty)
        #expect(state.acquire(hello, at: start) == .use(100))
        #expect(state.liveCount == 1)
    }

    @Test func theMostRecentlyUsedIdleWorkerServesNext() {
        var state = makeState()
        _ = state.adopt(100, key: hello, now: start)
        _ = state.adopt(101, key: hello, now: start + .seconds(1))
        #expect(state.acquire(hello, at: start) == .use(101))
    }

    @Test func aCallTakesAnIdleWorkerOnItsOwnLoopFirstElseAnyAndAsksForOneMore() {
        var state = makeState(perFunction: 2)
        _ = state.adopt(100, key: hello, now: start)
        _ = state.adopt(101, key: hello, now: start + .seconds(1))
        #expect(
            state.acquire(hello, now: start, deadline: start + .seconds(60)) { $0 == 100 } == .use(100), "the local one, not the warmest")
        _ = state.release(100, now: start)
        #expect(state.acquire(hello, now: start, deadline: start + .seconds(60)) { $0 == 102 } == .use(100), "none local: the warmest")
        #expect(state.addWorker(for: hello).isEmpty, "the function is at its limit of two")
        _ = state.removed(101)
        #expect(state.addWorker(for: hello) == [.spawn(hello)])
        #expect(state.addWorker(for: hello).isEmpty, "one start at a time")
        #expect(state.liveCount == 2)
        #expect(state.spawned(102, key: hello, now: start).isEmpty, "the new worker waits idle")
        #expect(state.acquire(hello, now: start, deadline: start + .seconds(60)) { $0 == 102 } == .use(102))
    }

    @Test func noWorkerIsAddedWhileOneIsIdleForAVersionThatNoLongerServesOrPastTheTotal() {
        var state = makeState(perFunction: 4, total: 2)
        _ = state.adopt(100, key: hello, now: start)
        _ = state.adopt(101, key: sales, now: start)
        #expect(state.addWorker(for: hello).isEmpty, "an idle worker is left: sequential calls keep no more workers")
        #expect(state.acquire(hello, at: start) == .use(100))
        #expect(state.addWorker(for: hello).isEmpty, "the host is at its total")
        _ = state.removed(101)
        let older = FunctionKey(name: "hello", version: 0, instance: "h0")
        #expect(state.addWorker(for: older).isEmpty, "not the serving version")
        #expect(state.addWorker(for: hello) == [.spawn(hello)])
    }

    @Test func aFunctionBelowItsWarmFloorStartsWorkersWhenPlacesFree() {
        var state = makeState(perFunction: 2, total: 2)
        let warm = FunctionKey(name: "warm", version: 1, instance: "w1")
        #expect(state.makeCurrent(name: "warm", key: warm, minWarm: 2, adopting: (100, start)) == [.spawn(warm)])
        _ = state.spawned(101, key: warm, now: start)
        // Another function's deploy takes a place: the host is at its total, so one of warm's goes.
        #expect(state.adopt(102, key: hello, now: start + .seconds(1)) == [.retire(100)])
        // Its worker idles out, freeing the place: warm starts a worker to get back to its floor.
        #expect(state.expire(now: start + .seconds(700)) == [.retire(102), .spawn(warm)])
    }

    @Test func aBusyFunctionGrowsToItsLimitThenQueuesThenRefuses() throws {
        var state = makeState(perFunction: 2, queueDepth: 3)
        var spawns = 0
        for _ in 0..<5 {
            let (_, actions) = try waitFor(hello, in: &state)
            spawns += actions.filter { $0 == .spawn(hello) }.count
        }
        #expect(spawns == 2, "no more workers than the per-function maximum")
        #expect(state.waitingCount == 5, "two calls wait for new workers, three in the queue")
        #expect(state.acquire(hello, at: start) == .saturated(retryAfter: .seconds(1)), "a fourth queued call is over the queue depth")
    }

    @Test func withNoQueueOnlyCallsThatANewWorkerServesMayWait() throws {
        var state = makeState(perFunction: 2, queueDepth: 0)
        _ = state.adopt(100, key: hello, now: start)
        #expect(state.acquire(hello, at: start) == .use(100))
        let (_, actions) = try waitFor(hello, in: &state)
        #expect(actions == [.spawn(hello)])
        #expect(state.acquire(hello, at: start) == .saturated(retryAfter: .seconds(1)))
    }

    @Test func aReleasedWorkerGoesToTheFirstWaitingCall() throws {
        var state = makeState(perFunction: 1)
        _ = state.adopt(100, key: hello, now: start)
        #expect(state.acquire(hello, at: start) == .use(100))
        let (first, actions) = try waitFor(hello, in: &state)
        #expect(actions.isEmpty, "at the per-function maximum, a call waits instead of spawning")
        let (second, _) = try waitFor(hello, in: &state)
        #expect(state.release(100, now: start) == [.hand(ticket: first, worker: 100)])
        #expect(state.release(100, now: start) == [.hand(ticket: second, worker: 100)])
    }

    @Test func atTheTotalCapTheLeastRecentlyUsedIdleWorkerIsEvicted() throws {
        var state = makeState(total: 2)
        _ = state.adopt(100, key: hello, now: start)
        _ = state.adopt(101, key: hello, now: start + .seconds(5))
        let (_, actions) = try waitFor(sales, in: &state)
        #expect(actions == [.retire(100), .spawn(sales)])
        #expect(state.liveCount == 2)
    }

    @Test func atTheTotalCapWithNothingIdleACallWaitsForAWorkerToFree() throws {
        var state = makeState(total: 1)
        _ = state.adopt(100, key: hello, now: start)
        #expect(state.acquire(hello, at: start) == .use(100))
        let (_, actions) = try waitFor(sales, in: &state)
        #expect(actions.isEmpty)
        #expect(state.release(100, now: start) == [.retire(100), .spawn(sales)])
    }

    @Test func idleWorkersRetireAfterTheIdleTimeout() {
        var state = makeState()
        _ = state.adopt(100, key: hello, now: start)
        _ = state.adopt(101, key: sales, now: start + .seconds(300))
        #expect(state.expire(now: start + .seconds(599)).isEmpty)
        #expect(state.expire(now: start + .seconds(600)) == [.retire(100)])
        #expect(state.expire(now: start + .seconds(900)) == [.retire(101)])
        #expect(state.liveCount == 0)
    }

    @Test func aNewVersionRetiresIdleWorkersOfTheOldAndBusyOnesWhenTheyFinish() {
        var state = makeState()
        _ = state.adopt(100, key: hello, now: start)
        _ = state.adopt(101, key: hello, now: start)
        #expect(state.acquire(hello, at: start) == .use(101))
        #expect(state.makeCurrent(name: "hello", key: FunctionKey(name: "hello", version: 2, instance: "h2")) == [.retire(100)])
        #expect(state.release(101, now: start) == [.retire(101)])
        #expect(state.liveCount == 0)
    }

    @Test func aFailedSpawnFailsTheCallItWasFor() throws {
        var state = makeState()
        let (ticket, _) = try waitFor(hello, in: &state)
        #expect(state.spawnFailed(key: hello) == [.fail(ticket: ticket)])
        #expect(state.liveCount == 0)
        #expect(state.waitingCount == 0)
    }

    @Test func aDeadWorkerIsReplacedForWaitingCalls() throws {
        var state = makeState(perFunction: 1)
        _ = state.adopt(100, key: hello, now: start)
        #expect(state.acquire(hello, at: start) == .use(100))
        _ = try waitFor(hello, in: &state)
        #expect(state.removed(100) == [.spawn(hello)])
    }

    @Test func aCancelledWaitLeavesTheQueue() throws {
        var state = makeState(perFunction: 1)
        _ = state.adopt(100, key: hello, now: start)
        #expect(state.acquire(hello, at: start) == .use(100))
        let (ticket, _) = try waitFor(hello, in: &state)
        let cancelled = state.cancel(ticket: ticket, key: hello)
        let cancelledAgain = state.cancel(ticket: ticket, key: hello)
        #expect(cancelled)
        #expect(!cancelledAgain)
        #expect(state.release(100, now: start).isEmpty, "nobody waits any more: the worker goes idle")
    }

    @Test func removingAFunctionFailsItsWaitingCallsAndRetiresItsWorkersOnceTheirCallsEnd() throws {
        var state = makeState(perFunction: 2)
        _ = state.adopt(100, key: hello, now: start)
        _ = state.adopt(101, key: hello, now: start)
        _ = state.adopt(200, key: sales, now: start)
        #expect(state.acquire(hello, at: start) == .use(101))
        #expect(state.acquire(hello, at: start) == .use(100))
        let (ticket, _) = try waitFor(hello, in: &state)
        let removed = state.removeFunction("hello")
        #expect(removed.actions.isEmpty, "the calls in flight finish")
        #expect(removed.failed == [ticket])
        #expect(state.release(100, now: start) == [.retire(100)])
        #expect(state.removed(101).isEmpty)
        #expect(state.liveCount == 1)
    }
}

@Suite struct PoolSettingsTests {
    let key = FunctionKey(name: "tuned", version: 1, instance: "t1")
    let start = ContinuousClock.now

    func makeState(total: Int = 8) -> PoolState {
        PoolState(limits: PoolLimits(perFunction: 4, total: total, queueDepth: 0, idleTimeout: .seconds(600)))
    }

    @Test func minWarmStartsWorkersBesideTheAdoptedOne() {
        var state = makeState()
        let actions = state.makeCurrent(name: "tuned", key: key, minWarm: 2, adopting: (100, start))
        #expect(actions == [.spawn(key)], "the adopted worker counts toward min_warm")
    }

    @Test func minWarmWorkersOutliveTheIdleTimeout() {
        var state = makeState()
        _ = state.makeCurrent(name: "tuned", key: key, minWarm: 1, adopting: (100, start))
        _ = state.spawned(101, key: key, now: start)
        #expect(state.expire(now: start + .seconds(601)) == [.retire(100)])
        #expect(state.liveCount == 1)
    }

    @Test func concurrencyOverridesThePerFunctionLimit() {
        var state = makeState()
        _ = state.makeCurrent(name: "tuned", key: key, perFunction: 1, adopting: (100, start))
        #expect(state.acquire(key, at: start) == .use(100))
        #expect(state.acquire(key, at: start) == .saturated(retryAfter: .seconds(1)), "one worker at most, and no queue")
    }

    @Test func minWarmStaysWithinTheTotal() {
        var state = makeState(total: 1)
        let actions = state.makeCurrent(name: "tuned", key: key, minWarm: 3, adopting: (100, start))
        #expect(actions.isEmpty)
    }
}

@Suite struct RestartAndRecyclingTests {
    @Test func zygoteRestartsBackOffUpToThirtySeconds() {
        let delays = (0..<12).map { ZygoteSupervisor.backoff(attempt: $0) }
        #expect(delays.prefix(4) == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800)])
        #expect(delays.last == .seconds(30))
        #expect(zip(delays, delays.dropFirst()).allSatisfy { $0 <= $1 })
    }

    @Test func recyclingLimitsAreJitteredWithinTenPercent() {
        var recycling = Recycling()
        recycling.afterCalls = 1000
        var generator = SystemRandomNumberGenerator()
        let limits = (0..<200).map { _ in recycling.drawLimit(using: &generator) }
        #expect(limits.allSatisfy { (1000...1100).contains($0) })
        #expect(Set(limits).count > 10, "workers do not all retire together")
    }
}

extension PoolState {
    /// A call with a deadline far enough away not to matter.
    mutating func acquire(_ key: FunctionKey, at now: Instant) -> Acquisition {
        acquire(key, now: now, deadline: now + .seconds(600))
    }
}
