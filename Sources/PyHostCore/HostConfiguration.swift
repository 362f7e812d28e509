import Foundation
import PyHostWire

/// Everything the host needs to start, with the defaults the command line documents.
public struct HostConfiguration: Sendable {
    /// Where the function store lives.
    public var dataDirectory: URL
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
