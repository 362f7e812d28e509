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

    /// Records `version` unless a newer one of the same function is already there (two deploys
    /// that race store in order, but may finish out of order). Returns the version now current.
    @discardableResult
    func record(_ version: FunctionVersion) -> FunctionVersion {
        functions.withLock { functions in
            if let known = functions[version.name], known.version > version.version { return known }
            functions[version.name] = version
            return version
        }
    }

    func remove(_ name: String) {
        functions.withLock { $0[name] = nil }
    }
}
