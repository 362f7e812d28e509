import Foundation
import PyHostWire

/// Everything the host needs to start, with the defaults the command line documents.
public struct HostConfiguration: Sendable {
    /// Where the function store lives, unless it is shared.
    public var dataDirectory: URL
    /// The PostgreSQL store shared by every node of a cluster; nil keeps the store in SQLite in `dataDirectory`.
    public var sharedStore: PostgresLocation?
    /// This node's name in the invocation records (`--node-name`; the host name and port by default).
    public var nodeName = ""
    /// The folder holding the `pyhost_runtime` package.
    public var runtimeDirectory: String
    /// This program, which the zygote runs as (`__zygote`).
    public var executable: String
    /// The deadline of one invocation, and of loading a module.
    public var timeout: Duration
    public var limits: PoolLimits
    /// What each worker may use.
    public var workerLimits = WorkerLimits(memoryBytes: 1024 * 1024 * 1024)
    /// Workers forked and warmed ahead of need, beyond the pool's.
    public var spareWorkers = 2
    /// Start even when some sandbox layers cannot be set up on this host.
    public var allowWeakerSandbox = false
    /// The largest module source a deploy accepts.
    public var maximumSourceBytes = 1024 * 1024
    /// The largest request body an invocation accepts.
    public var maximumRequestBytes = 6 * 1024 * 1024
    /// The largest result a handler may return, as JSON.
    public var maximumResponseBytes = 6 * 1024 * 1024
    /// Invocations kept per function for `GET /functions/{name}/logs`.
    public var logHistory = 100
    /// When workers retire although healthy.
    public var recycling = Recycling()
    /// Whether a function with no access of its own is private (needs a key) or public.
    public var privateByDefault = false
    /// Where `# /// script` requirements come from, and the limits of one install.
    public var packages = PackageInstaller.Settings()
    /// What the idle zygotes of package environments may hold together before they retire.
    public var environmentMemoryBytes: UInt64 = 1024 * 1024 * 1024

    public init(dataDirectory: URL, runtimeDirectory: String, executable: String, timeout: Duration, limits: PoolLimits) {
        self.dataDirectory = dataDirectory
        self.runtimeDirectory = runtimeDirectory
        self.executable = executable
        self.timeout = timeout
        self.limits = limits
    }

    public static func defaultLimits(cpuCount: Int = ProcessInfo.processInfo.activeProcessorCount) -> PoolLimits {
        PoolLimits(perFunction: cpuCount, total: 4 * cpuCount, queueDepth: 64, idleTimeout: .seconds(600))
    }
}

/// A worker retires after serving about `afterCalls` calls (each worker draws its own limit up to
/// 10 % higher, so they do not all retire together), or once its resident memory passes `rssBytes`.
public struct Recycling: Sendable, Equatable {
    public var afterCalls = 10_000
    public var rssBytes: UInt64 = 512 * 1024 * 1024
    /// How often, in calls, a worker's resident memory is read.
    public var rssCheckInterval = 64

    public init() {}

    /// The number of calls one new worker serves before retiring.
    func drawLimit<Generator: RandomNumberGenerator>(using generator: inout Generator) -> Int {
        afterCalls + Int.random(in: 0...max(0, afterCalls / 10), using: &generator)
    }
}
