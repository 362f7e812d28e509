import Synchronization

/// Who may invoke what, in memory: the keys, each function's access and the rate limits' buckets.
/// The store is the record; this is what every call checks, without a query.
final class CallerPolicy: Sendable {
    private struct State {
        var keys: [String: InvokerKey] = [:]
        var access: [String: FunctionAccess] = [:]
        var limiter = RateLimiter()
    }
    private let state = Mutex(State())
    let defaultAccess: FunctionAccess

    init(defaultAccess: FunctionAccess) {
        self.defaultAccess = defaultAccess
    }

    func load(keys: [InvokerKey], access: [String: FunctionAccess]) {
        state.withLock { state in
            state.keys = Dictionary(uniqueKeysWithValues: keys.map { ($0.id, $0) })
            state.access = access
        }
    }

    var keys: [InvokerKey] { state.withLock { $0.keys.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } } }

    func add(_ key: InvokerKey) {
        state.withLock { $0.keys[key.id] = key }
    }

    func removeKey(id: String) {
        state.withLock { state in
            state.keys[id] = nil
            state.limiter.forget("key \(id)")
        }
    }

    func access(of name: String) -> FunctionAccess {
        state.withLock { $0.access[name] } ?? defaultAccess
    }

    func setAccess(_ access: FunctionAccess?, of name: String) {
        state.withLock { state in
            state.access[name] = access
            state.limiter.forget("function \(name)")
        }
    }

    /// Whether a call of `function` may go ahead: `secret` is the key presented, if any, and
    /// `configurator` whether the deploy token was; `spending`, whether the call goes ahead now and
    /// takes from the rate limits (a check before the body is read does not). Returns the id of
    /// the key used.
    /// - Throws: `HostError.keyRequired`, `.invalidKey`, `.keyNotAllowed` or `.rateLimited`.
    func authorize(
        _ function: String, secret: String?, configurator: Bool, spending: Bool = true, now: ContinuousClock.Instant
    ) throws -> String? {
        try state.withLock { state in
            let access = state.access[function] ?? defaultAccess
            var key: InvokerKey?
            if let secret, !configurator {
                guard let id = InvokerKey.id(of: secret), let found = state.keys[id], found.accepts(secret) else {
                    throw HostError.invalidKey
                }
                key = found
            }
            if access.isPrivate && !configurator {
                guard let key else { throw HostError.keyRequired(function: function) }
                guard key.covers(function) else { throw HostError.keyNotAllowed(keyID: key.id, function: function) }
            }
            guard spending else { return key?.id }
            if let key, let rate = key.ratePerSecond, let wait = state.limiter.take("key \(key.id)", rate: rate, now: now) {
                throw HostError.rateLimited(
                    limit: "key \(key.id): \(rate.formattedRate)/s", keyID: key.id, retryAfterSeconds: wait.wholeSecondsRoundedUp)
            }
            if let rate = access.ratePerSecond, let wait = state.limiter.take("function \(function)", rate: rate, now: now) {
                // A call the function's limit refuses does not count against the key's.
                if let key, key.ratePerSecond != nil { state.limiter.giveBack("key \(key.id)") }
                throw HostError.rateLimited(
                    limit: "function \(function): \(rate.formattedRate)/s", keyID: nil, retryAfterSeconds: wait.wholeSecondsRoundedUp)
            }
            return key?.id
        }
    }
}

extension Double {
    /// 50 rather than 50.0; 0.5 as it is.
    public var formattedRate: String {
        self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self)
    }
}
