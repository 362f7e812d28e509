import Synchronization

/// The newest version of each function, in memory, so an invocation never waits on the store.
final class FunctionCatalog: Sendable {
    private let functions = Mutex<[String: FunctionVersion]>([:])

    subscript(name: String) -> FunctionVersion? {
        functions.withLock { $0[name] }
    }

    var all: [FunctionVersion] {
        functions.withLock { Array($0.values) }.sorted { $0.name < $1.name }
    }

    /// Records `version` as the one its function serves. Callers serialize changes per host.
    func record(_ version: FunctionVersion) {
        functions.withLock { $0[version.name] = version }
    }

    func remove(_ name: String) {
        functions.withLock { $0[name] = nil }
    }
}
