import Testing

@testable import PyHostCore

@Suite struct RateLimiterTests {
    let start = ContinuousClock.now

    @Test func aBucketHoldsOneSecondsWorthAndRefillsAtItsRate() {
        var limiter = RateLimiter()
        let allowed = (0..<6).map { _ in limiter.take("a", rate: 5, now: start) == nil }
        #expect(allowed == [true, true, true, true, true, false])
        #expect(limiter.take("a", rate: 5, now: start) == .seconds(0.2))
        #expect(limiter.take("a", rate: 5, now: start + .milliseconds(199)) != nil)
        #expect(limiter.take("a", rate: 5, now: start + .milliseconds(200)) == nil)
        #expect(limiter.take("b", rate: 5, now: start) == nil, "buckets are separate")
    }

    @Test func aRateBelowOneStillLetsOneCallThrough() {
        var limiter = RateLimiter()
        #expect(limiter.take("slow", rate: 0.5, now: start) == nil)
        #expect(limiter.take("slow", rate: 0.5, now: start + .seconds(1)) == .seconds(1))
        #expect(limiter.take("slow", rate: 0.5, now: start + .seconds(2)) == nil)
    }

    @Test(arguments: [1e-4, 1e-20, 1e-300, Double.leastNonzeroMagnitude])
    func anyRateGivesAWaitADurationCanHold(rate: Double) {
        var limiter = RateLimiter()
        _ = limiter.take("slow", rate: rate, now: start)
        #expect(limiter.take("slow", rate: rate, now: start) == RateLimiter.longestWait)
    }

    @Test func aForgottenBucketStartsFull() {
        var limiter = RateLimiter()
        _ = limiter.take("a", rate: 1, now: start)
        #expect(limiter.take("a", rate: 1, now: start) != nil)
        limiter.forget("a")
        #expect(limiter.take("a", rate: 1, now: start) == nil)
    }
}

@Suite struct CallerPolicyTests {
    let now = ContinuousClock.now

    func policy(privateByDefault: Bool = false) -> (CallerPolicy, sales: String, all: String, allID: String) {
        let policy = CallerPolicy(defaultAccess: FunctionAccess(isPrivate: privateByDefault))
        let sales = InvokerKey.make(functions: ["sales"], ratePerSecond: nil)
        let all = InvokerKey.make(functions: nil, ratePerSecond: 1)
        policy.load(keys: [sales.key, all.key], access: ["sales": FunctionAccess(isPrivate: true)])
        return (policy, sales.secret, all.secret, all.key.id)
    }

    @Test func privateFunctionsNeedACoveringKeyOrTheToken() throws {
        let (policy, sales, all, _) = policy()
        #expect(throws: HostError.keyRequired(function: "sales")) {
            try policy.authorize("sales", secret: nil, configurator: false, now: now)
        }
        #expect(try policy.authorize("sales", secret: nil, configurator: true, now: now) == nil)
        #expect(try policy.authorize("sales", secret: sales, configurator: false, now: now) != nil)
        #expect(try policy.authorize("sales", secret: all, configurator: false, now: now) != nil)
        let other = InvokerKey.make(functions: ["hello"], ratePerSecond: nil)
        policy.add(other.key)
        #expect(throws: HostError.keyNotAllowed(keyID: other.key.id, function: "sales")) {
            try policy.authorize("sales", secret: other.secret, configurator: false, now: now)
        }
    }

    @Test(arguments: ["pyk_k_000000000000_00", "pyk_k_", "pyk_", "not-a-key", "pyk_k_x_y_z"])
    func unknownOrMalformedKeysAreInvalidEvenForPublicFunctions(secret: String) {
        let (policy, _, _, _) = policy()
        #expect(throws: HostError.invalidKey) { try policy.authorize("hello", secret: secret, configurator: false, now: now) }
    }

    @Test func aKeyWithTheRightIdButAnotherSecretIsInvalid() {
        let (policy, sales, _, _) = policy()
        let forged = String(sales.dropLast()) + (sales.last == "0" ? "1" : "0")
        #expect(throws: HostError.invalidKey) { try policy.authorize("sales", secret: forged, configurator: false, now: now) }
    }

    @Test func theDefaultAccessAppliesToFunctionsWithNoneOfTheirOwn() throws {
        let (open, _, _, _) = policy()
        #expect(try open.authorize("hello", secret: nil, configurator: false, now: now) == nil)
        let (closed, _, _, _) = policy(privateByDefault: true)
        #expect(throws: HostError.keyRequired(function: "hello")) {
            try closed.authorize("hello", secret: nil, configurator: false, now: now)
        }
        closed.setAccess(FunctionAccess(isPrivate: false), of: "hello")
        #expect(try closed.authorize("hello", secret: nil, configurator: false, now: now) == nil)
    }

    @Test func keyAndFunctionLimitsAreNamedWhenSpent() throws {
        let (policy, _, all, allID) = policy()
        _ = try policy.authorize("hello", secret: all, configurator: false, now: now)
        #expect(throws: HostError.rateLimited(limit: "key \(allID): 1/s", keyID: allID, retryAfterSeconds: 1)) {
            try policy.authorize("hello", secret: all, configurator: false, now: now)
        }
        policy.setAccess(FunctionAccess(isPrivate: false, ratePerSecond: 2), of: "hello")
        _ = try policy.authorize("hello", secret: nil, configurator: false, now: now)
        _ = try policy.authorize("hello", secret: nil, configurator: false, now: now)
        #expect(throws: HostError.rateLimited(limit: "function hello: 2/s", keyID: nil, retryAfterSeconds: 1)) {
            try policy.authorize("hello", secret: nil, configurator: false, now: now)
        }
    }

    @Test func aCallTheFunctionsLimitRefusesLeavesTheKeysBudget() throws {
        let (policy, _, all, _) = policy()
        policy.setAccess(FunctionAccess(isPrivate: false, ratePerSecond: 1), of: "hello")
        _ = try policy.authorize("hello", secret: nil, configurator: false, now: now)
        #expect(throws: HostError.rateLimited(limit: "function hello: 1/s", keyID: nil, retryAfterSeconds: 1)) {
            try policy.authorize("hello", secret: all, configurator: false, now: now)
        }
        #expect(try policy.authorize("world", secret: all, configurator: false, now: now) != nil, "the key's one call is still there")
    }

    /// The check made before a body is read refuses what the call's check would, and spends nothing.
    @Test func aCheckThatDoesNotSpendLeavesTheRateLimits() throws {
        let (policy, sales, all, _) = policy()
        for _ in 0..<3 { #expect(try policy.authorize("hello", secret: all, configurator: false, spending: false, now: now) != nil) }
        #expect(try policy.authorize("hello", secret: all, configurator: false, now: now) != nil, "the key's one call is still there")
        #expect(throws: HostError.keyRequired(function: "sales")) {
            try policy.authorize("sales", secret: nil, configurator: false, spending: false, now: now)
        }
        #expect(try policy.authorize("sales", secret: sales, configurator: false, spending: false, now: now) != nil)
    }

    @Test func aRevokedKeyIsRefusedAtOnce() throws {
        let (policy, sales, _, _) = policy()
        let id = try #require(InvokerKey.id(of: sales))
        policy.removeKey(id: id)
        #expect(throws: HostError.invalidKey) { try policy.authorize("sales", secret: sales, configurator: false, now: now) }
    }
}
