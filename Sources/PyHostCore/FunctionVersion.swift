import Foundation
import GRDB

/// One immutable upload of a function, with the settings it was deployed with.
public struct FunctionVersion: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "function_versions"

    public let name: String
    public let version: Int
    public let source: String
    public let sha256: String
    /// Random and never reused (see `FunctionKey.instance`).
    public let instance: String
    public let createdAt: Date
    /// The invocation deadline; nil means the server's default.
    public let timeoutSeconds: Double?
    /// The address space of each worker, in MiB; nil means the server's default.
    public let memoryMiB: Int?
    /// Workers this version may have at once; nil means the server's default.
    public let concurrency: Int?
    /// Workers kept loaded even when idle.
    public let minWarm: Int
    /// The packages its `# /// script` block declared, resolved; nil when it has no block.
    public let requirements: Requirements?

    public var key: FunctionKey { FunctionKey(name: name, version: version, instance: instance) }
}

/// The settings a deploy may give a version, validated by the HTTP layer.
public struct FunctionSettings: Sendable, Equatable {
    public var timeoutSeconds: Double?
    public var memoryMiB: Int?
    public var concurrency: Int?
    public var minWarm = 0

    public init(timeoutSeconds: Double? = nil, memoryMiB: Int? = nil, concurrency: Int? = nil, minWarm: Int = 0) {
        self.timeoutSeconds = timeoutSeconds
        self.memoryMiB = memoryMiB
        self.concurrency = concurrency
        self.minWarm = minWarm
    }
}
