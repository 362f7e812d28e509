import Foundation

extension FunctionHost {
    /// Makes a key for `functions` (nil: all), at most `ratePerSecond` calls a second (nil: no limit).
    /// Returns it with its secret, which is not stored and cannot be shown again.
    public func createKey(functions: [String]?, ratePerSecond: Double?, by actor: String) async throws -> (key: InvokerKey, secret: String)
    {
        let (key, secret) = InvokerKey.make(functions: functions, ratePerSecond: ratePerSecond)
        // Under the lock changes of callers hold, so a node following a shared store applies
        // no read from before this change after it (`reloadCallers`).
        try await switching.withLock {
            try await registry.add(key, by: actor)
            callers.add(key)
        }
        return (key, secret)
    }

    public func invokerKeys() -> [InvokerKey] {
        callers.keys
    }

    /// Revokes the key: from the next call on, it is refused.
    /// - Throws: `HostError.keyNotFound`.
    public func revokeKey(id: String, by actor: String) async throws {
        try await switching.withLock {
            guard try await registry.removeKey(id: id, by: actor) else { throw HostError.keyNotFound(id) }
            callers.removeKey(id: id)
        }
    }

    /// Who may call `name` and how often (the server's default when it was never set).
    public func access(of name: String) -> FunctionAccess {
        callers.access(of: name)
    }

    /// Sets who may call `name`, durably; the next call is checked against it. Under the lock a
    /// deploy or a delete holds, so they are applied one after the other.
    /// - Throws: `HostError.functionNotFound` when `name` was deleted meanwhile.
    public func setAccess(_ access: FunctionAccess, of name: String, by actor: String) async throws {
        try await switching.withLock {
            guard try await registry.setAccess(access, of: name, by: actor) else { throw HostError.functionNotFound(name) }
            callers.setAccess(access, of: name)
        }
    }

    /// Whether a call of `name` may go ahead; `key` is the invoker key presented, if any, and
    /// `configurator` whether the deploy token was; `spending`, whether the call goes ahead now
    /// and takes from the rate limits. Returns the id of the key used.
    /// - Throws: `HostError.keyRequired`, `.invalidKey`, `.keyNotAllowed` or `.rateLimited`.
    public func authorizeInvocation(of name: String, key: String?, configurator: Bool, spending: Bool) throws -> String? {
        try callers.authorize(name, secret: key, configurator: configurator, spending: spending, now: .now)
    }

    /// Whether a page from `origin` may call `name` from a browser.
    public func allowsCrossOrigin(_ origin: String, toCall name: String) -> Bool {
        catalog[name] != nil && callers.access(of: name).allowedOrigins.contains(origin.lowercased())
    }

    /// The latest `limit` changes, newest first.
    public func auditTrail(limit: Int) async throws -> [AuditEntry] {
        try await registry.audit(limit: limit)
    }
}
