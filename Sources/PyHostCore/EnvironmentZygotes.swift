import Foundation
import Logging
import PyHostWire

/// The zygotes of package environments, one per environment in use, started on demand: each a
/// fresh interpreter that imports its environment's packages (and pandas, the host's or the
/// environment's own) under confinement, then forks that environment's workers. Idle ones retire
/// once together they hold more than the memory budget, least recently used first.
actor EnvironmentZygotes {
    private let installer: PackageInstaller
    private let start: @Sendable (ZygoteEnvironment) async throws -> ZygoteClient
    private let memoryBudget: UInt64
    /// The address space of a zygote: the most any worker may have.
    private let workerMemoryBytes: UInt64
    private let logger: Logger
    private var running: [String: ZygoteClient] = [:]
    private var starting: [String: Task<ZygoteClient, any Error>] = [:]
    private var lastUsed: [String: ContinuousClock.Instant] = [:]
    /// Each zygote's workers take identities from a range of their own: 1024 slots past the base
    /// zygote's, for up to 62 zygotes at once.
    private var nextRange = 1
    static let slotsPerZygote = 1024

    init(
        installer: PackageInstaller, memoryBudget: UInt64, workerMemoryBytes: UInt64, logger: Logger,
        start: @escaping @Sendable (ZygoteEnvironment) async throws -> ZygoteClient
    ) {
        self.installer = installer
        self.memoryBudget = memoryBudget
        self.workerMemoryBytes = workerMemoryBytes
        self.logger = logger
        self.start = start
    }

    /// The running zygote of `requirements`' environment, started (and the environment installed
    /// from its pinned set) if need be.
    func client(for requirements: Requirements) async throws -> ZygoteClient {
        guard let environment = requirements.environment else {
            throw HostError.protocolViolation("requirements without an environment have no zygote of their own")
        }
        lastUsed[environment] = .now
        if let client = running[environment], client.isRunning { return client }
        if let pending = starting[environment] { return try await pending.value }
        let range = nextRange
        nextRange = nextRange % 62 + 1
        let zygote = ZygoteEnvironment(
            directory: installer.sitePackages(of: environment), modules: requirements.modules,
            identityOffset: range * Self.slotsPerZygote, memoryBytes: workerMemoryBytes)
        let task = Task { [installer, start] in
            try await installer.install(requirements)
            // A file gone or changed since the install (the manifest says): install it anew.
            if !installer.isIntact(environment) { try await installer.reinstall(requirements) }
            return try await start(zygote)
        }
        starting[environment] = task
        defer { starting[environment] = nil }
        let client = try await task.value
        running[environment] = client
        logger.info("environment zygote started", metadata: ["environment": "\(environment.prefix(12))", "pid": "\(client.pid)"])
        return client
    }

    var count: Int { running.values.filter(\.isRunning).count }

    /// Retires zygotes of environments no live worker uses, least recently used first, while the
    /// running ones hold more than the budget; and forgets those that ended by themselves.
    func retire(keeping inUse: Set<String>) async {
        running = running.filter { $0.value.isRunning }
        var total = running.values.reduce(UInt64(0)) { $0 + Self.residentBytes(of: $1) }
        for environment in running.keys.sorted(by: { lastUsed[$0] ?? .now < lastUsed[$1] ?? .now })
        where total > memoryBudget && !inUse.contains(environment) {
            guard let client = running.removeValue(forKey: environment) else { continue }
            total -= min(total, Self.residentBytes(of: client))
            logger.info("environment zygote retired", metadata: ["environment": "\(environment.prefix(12))"])
            await client.shutdown()
        }
    }

    /// The zygote's memory: the process the server started and the zygote proper, its child in a
    /// PID namespace of its own (`ZygoteEnvironment.enterPIDNamespace`).
    static func residentBytes(of client: ZygoteClient) -> UInt64 {
        let pids = [client.pid] + childProcesses(of: "\(client.pid)", thread: "\(client.pid)")
        return pids.reduce(0) { $0 + (ResidentMemory.bytes(of: $1) ?? 0) }
    }

    /// Stops the zygotes of environments no stored version uses, and removes those environments
    /// from disk, except ones installed in the last `installGrace` (a deploy may be about to store them).
    func collect(inUse: Set<String>, installGrace: Duration) async {
        for (environment, client) in running where !inUse.contains(environment) {
            running[environment] = nil
            await client.shutdown()
        }
        lastUsed = lastUsed.filter { inUse.contains($0.key) }
        let folder = installer.environments
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let cutoff = Date().addingTimeInterval(-installGrace.seconds)
        for entry in entries where !inUse.contains(entry) {
            let path = folder.appendingPathComponent(entry).path
            let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast
            guard modified < cutoff else { continue }
            try? FileManager.default.removeItem(atPath: path)
            logger.info("environment collected", metadata: ["environment": "\(entry.prefix(12))"])
        }
    }

    /// How many environments are installed on disk.
    var installedCount: Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: installer.environments.path)) ?? []
        return entries.filter { !$0.hasPrefix(".") }.count
    }

    func shutdown() async {
        for pending in starting.values { pending.cancel() }
        for client in running.values { await client.shutdown() }
        running = [:]
    }
}
