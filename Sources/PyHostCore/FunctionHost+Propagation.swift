/// How a node follows changes other nodes made to a shared store (see `StoreFollower`).
extension FunctionHost {
    /// Applies the store's state of `name` ("" when only keys changed) and its callers. Keys and
    /// access apply at once; the function is brought in line by a task of its own, so a version that
    /// takes long to load holds up no other function's change (a delete, a rollback).
    func follow(_ name: String) async {
        do {
            try await reloadCallers()
        } catch {
            logger.warning("cannot follow a change", metadata: ["function": "\(name)", "error": "\(error)"])
        }
        if !name.isEmpty { align(name) }
    }

    /// Re-reads every serving version, key and access, and applies what differs.
    /// - Throws: `HostError.storeUnavailable` when the store cannot be read.
    func catchUp() async throws {
        let serving = Dictionary(uniqueKeysWithValues: try await registry.servingVersions().map { ($0.name, $0.key) })
        try await reloadCallers()
        for name in Set(serving.keys).union(catalog.all.map(\.name)).sorted() where catalog[name]?.key != serving[name] {
            align(name)
        }
    }

    /// Brings `name` in line with the store in a task of its own; a change that comes while one
    /// runs makes it go again, so changes of one function apply in order and none is missed.
    private func align(_ name: String) {
        let start = aligning.withLock { running in
            guard running[name] == nil else {
                running[name] = true
                return false
            }
            running[name] = false
            return true
        }
        guard start else { return }
        Task {
            repeat {
                do {
                    try await align(name, to: try await registry.servingVersion(of: name))
                } catch {
                    logger.warning("cannot follow a change", metadata: ["function": "\(name)", "error": "\(error)"])
                }
            } while aligning.withLock { running in
                if running[name] == true {
                    running[name] = false
                    return true
                }
                running[name] = nil
                return false
            }
        }
    }

    /// Replaces the keys and access in memory with the store's. Read and applied under the
    /// switching lock, which this node's own changes of keys and access hold from their write to
    /// their update in memory: a read from before such a change is never applied after it (it
    /// would bring back a revoked key or make a private function public until the next notification).
    private func reloadCallers() async throws {
        try await switching.withLock {
            callers.load(keys: try await registry.invokerKeys(), access: try await registry.accessByName())
        }
    }

    /// Makes `name` serve `stored` (nil: retires it) unless it already does. The version is loaded
    /// into a worker of this node first, so calls move only to a version that loads; under the
    /// switching lock the store is read again, since a deploy here may have moved it meanwhile.
    private func align(_ name: String, to stored: FunctionVersion?) async throws {
        // Under the lock: a deploy here may have stored its version and not yet switched to it.
        guard await switching.withLock({ catalog[name]?.key != stored?.key }) else { return }
        guard let stored else {
            try await switching.withLock {
                guard catalog[name] != nil, try await registry.servingVersion(of: name) == nil else { return }
                await retire(name)
            }
            logger.info("followed a delete", metadata: ["function": "\(name)"])
            return
        }
        let worker = try await loadStored(stored)
        let switched: Bool
        do {
            switched = try await switching.withLock {
                guard try await registry.servingVersion(of: name)?.key == stored.key, catalog[name]?.key != stored.key else {
                    return false
                }
                await switchTo(stored, worker: worker)
                return true
            }
        } catch {
            worker.terminate()
            throw error
        }
        guard switched else {
            worker.terminate()
            return
        }
        logger.info("followed a change", metadata: ["function": "\(stored.key)"])
    }
}
