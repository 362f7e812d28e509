import Testing

@testable import PyHostCore

/// The races between deploys, deletes, rollbacks and calls that once crashed the server or served
/// a deleted module, each replayed as the sequence of pool events it produced.
@Suite struct PoolStateRaceTests {
    let start = ContinuousClock.now
    let deleted = FunctionKey(name: "hello", version: 1, instance: "deleted")
    let redeployed = FunctionKey(name: "hello", version: 1, instance: "redeployed")

    func makeState(perFunction: Int = 2, total: Int = 8, queueDepth: Int = 64) -> PoolState {
        PoolState(limits: PoolLimits(perFunction: perFunction, total: total, queueDepth: queueDepth, idleTimeout: .seconds(2)))
    }

    @Test func aDeleteDuringStartsLeavesATombstoneAndTheLateWorkersRetire() {
        var state = makeState()
        #expect(state.makeCurrent(name: "hello", key: deleted, minWarm: 2) == [.spawn(deleted), .spawn(deleted)])
        let removed = state.removeFunction("hello")
        #expect(removed.failed.isEmpty && removed.actions.isEmpty)
        #expect(state.spawned(100, key: deleted, now: start) == [.retire(100)])
        #expect(state.spawnFailed(key: deleted).isEmpty, "a late failure starts nothing again")
        #expect(state.slots.isEmpty && state.owners.isEmpty)
    }

    @Test func aStartThatFailsAfterADeleteDoesNotSpinIntoAnotherStart() throws {
        var state = makeState()
        _ = state.makeCurrent(name: "hello", key: deleted)
        guard case .wait(_, let actions) = state.acquire(deleted, at: start) else { throw CancellationError() }
        #expect(actions == [.spawn(deleted)])
        _ = state.removeFunction("hello")
        #expect(state.spawnFailed(key: deleted).isEmpty)
        #expect(state.liveCount == 0 && state.slots.isEmpty)
    }

    @Test func aFunctionDeployedAgainUnderTheSameNameNeverGetsTheDeletedOnesWorkers() throws {
        var state = makeState()
        _ = state.makeCurrent(name: "hello", key: deleted, minWarm: 2)
        _ = state.removeFunction("hello")
        _ = state.makeCurrent(name: "hello", key: redeployed, adopting: (200, start))
        #expect(state.spawned(100, key: deleted, now: start) == [.retire(100)])
        #expect(state.acquire(redeployed, at: start) == .use(200))
        guard case .wait(_, let actions) = state.acquire(redeployed, at: start) else { throw CancellationError() }
        #expect(actions == [.spawn(redeployed)])
    }

    @Test func aCallOnADeletedVersionIsToldItIsGone() {
        var state = makeState()
        _ = state.makeCurrent(name: "hello", key: deleted, minWarm: 1)
        _ = state.removeFunction("hello")
        #expect(state.acquire(deleted, at: start) == .gone)
    }

    @Test func aBusyWorkerKeepsItsEntryThroughRetirementsExpiryAndEviction() {
        var state = makeState(total: 2)
        _ = state.makeCurrent(name: "hello", key: deleted, adopting: (100, start))
        #expect(state.acquire(deleted, at: start) == .use(100))
        _ = state.makeCurrent(name: "hello", key: redeployed, adopting: (200, start))
        #expect(state.expire(now: start + .seconds(5)) == [.retire(200)])
        #expect(state.release(100, now: start + .seconds(6)) == [.retire(100)], "a stale version's worker retires when its call ends")
        #expect(state.removed(100).isEmpty, "a worker reported twice is ignored")
        #expect(state.slots.isEmpty)
    }

    @Test func theWorkerCapCountsEveryVersionOfAFunction() throws {
        var state = makeState(perFunction: 2)
        let old = FunctionKey(name: "hello", version: 1, instance: "a")
        let older = FunctionKey(name: "hello", version: 2, instance: "b")
        _ = state.makeCurrent(name: "hello", key: redeployed, adopting: (100, start))
        #expect(state.acquire(redeployed, at: start) == .use(100))
        guard case .wait(_, let first) = state.acquire(old, at: start) else { throw CancellationError() }
        #expect(first == [.spawn(old)])
        guard case .wait(_, let second) = state.acquire(older, at: start) else { throw CancellationError() }
        #expect(second.isEmpty, "two workers for hello already: an old version's call waits instead")
    }

    @Test func aCallThatCannotFinishBeforeItsDeadlineIsRefusedAtOnce() throws {
        var state = makeState(perFunction: 1)
        _ = state.makeCurrent(name: "hello", key: redeployed, adopting: (100, start))
        #expect(state.acquire(redeployed, at: start) == .use(100))
        _ = state.release(100, now: start + .milliseconds(500))
        let now = start + .seconds(1)
        #expect(state.acquire(redeployed, at: now) == .use(100))
        // One worker at 0.5 s a call: the third queued call would start 1.5 s from now and end
        // after 2 s, beyond a margin of a quarter of a call.
        for _ in 0..<2 {
            guard case .wait = state.acquire(redeployed, now: now, deadline: now + .seconds(2)) else { throw CancellationError() }
        }
        #expect(state.acquire(redeployed, now: now, deadline: now + .seconds(2)) == .saturated(retryAfter: .milliseconds(1500)))
        guard case .wait = state.acquire(redeployed, now: now, deadline: now + .seconds(3)) else { throw CancellationError() }
    }

    @Test func waitingCallsAreShedAsSoonAsThePaceShowsTheyCannotFinishInTime() throws {
        var state = makeState(perFunction: 1)
        _ = state.makeCurrent(name: "hello", key: redeployed, adopting: (100, start))
        #expect(state.acquire(redeployed, at: start) == .use(100))
        var tickets: [UInt64] = []
        for seconds in [5, 5, 5, 2] {
            guard case .wait(let ticket, _) = state.acquire(redeployed, now: start, deadline: start + .seconds(seconds)) else {
                throw CancellationError()
            }
            tickets.append(ticket)
        }
        // The first call took 1 s: of the four waiting, the first starts now, the second would end
        // at 3.25 s and the third at 4.25 s, the fourth after its deadline.
        let actions = state.release(100, now: start + .seconds(1))
        #expect(
            actions == [
                .hand(ticket: tickets[0], worker: 100), .shed(ticket: tickets[3], retryAfter: .seconds(3)),
            ])
        #expect(state.waitingCount == 2)
    }
}

@Suite struct PoolFairnessTests {
    let start = ContinuousClock.now
    let busy = FunctionKey(name: "busy", version: 1, instance: "b")
    let starved = FunctionKey(name: "starved", version: 1, instance: "s")

    @Test func atTheTotalCapAFunctionWithNoWorkerGetsTheNextOneFreed() throws {
        var state = PoolState(limits: PoolLimits(perFunction: 2, total: 1, queueDepth: 8, idleTimeout: .seconds(600)))
        _ = state.makeCurrent(name: "busy", key: busy, adopting: (100, start))
        _ = state.makeCurrent(name: "starved", key: starved)
        #expect(state.acquire(busy, at: start) == .use(100))
        guard case .wait = state.acquire(busy, at: start) else { throw CancellationError() }
        guard case .wait(_, let actions) = state.acquire(starved, at: start) else { throw CancellationError() }
        #expect(actions.isEmpty, "nothing idle to evict: the call waits")
        #expect(
            state.release(100, now: start + .milliseconds(10)) == [.retire(100), .spawn(starved)],
            "the busy function's worker makes room for the one that has none")
    }
}
