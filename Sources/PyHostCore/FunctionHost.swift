import Foundation
import Logging
import NIOCore
import NIOPosix
import PyHostWire
import ServiceLifecycle
import Synchronization

/// The host: the function store, the zygote and the worker pool, with no HTTP in sight.
public final class FunctionHost: Sendable {
    public let configuration: HostConfiguration
    let registry: any FunctionStore
    /// The store when other nodes share it, which this node then follows (`StoreFollower`).
    let sharedStore: PostgresStore?
    let zygotes: ZygoteSupervisor
    let pool: WorkerPool
    let catalog: FunctionCatalog
    let loader: WorkerLoader
    let installer: PackageInstaller
    let logger: Logger
    /// The recent invocations of each function, with what they printed.
    let invocationLog: InvocationLog
    /// Every node's recent invocations, when the store is shared.
    let sharedInvocationLog: SharedInvocationLog?
    /// Why the shared store is not followed now, if it is not.
    let storeStatus = StoreStatus()
    /// Functions being brought in line with a shared store, each by one task; true when another
    /// change came meanwhile (see `FunctionHost.follow`).
    let aligning = Mutex<[String: Bool]>([:])
    /// Serializes changes of the serving version (deploys, rollbacks, deletes) and of callers (keys, access).
    let switching = AsyncLock()
    /// Invoker keys, each function's access and the rate limits.
    let callers: CallerPolicy

    /// Opens the store, starts the zygote, and loads the catalog of functions.
    public static func start(_ configuration: HostConfiguration, logger: Logger) async throws -> FunctionHost {
        let sharedStore: PostgresStore? =
            if let location = configuration.sharedStore { try await PostgresStore.open(location, logger: logger) } else { nil }
        let registry: any FunctionStore = try sharedStore ?? FunctionRegistry(directory: configuration.dataDirectory)
        let zygotes = try await ZygoteSupervisor(
            starter: { onEnd in
                try await ZygoteClient.start(
                    executable: configuration.executable, runtimeDirectory: configuration.runtimeDirectory,
                    allowWeakerSandbox: configuration.allowWeakerSandbox, logger: logger, onEnd: onEnd)
            }, logger: logger)
        let zygote = zygotes.first
        let functions = try await registry.servingVersions()
        let host = FunctionHost(
            configuration: configuration, registry: registry, sharedStore: sharedStore, zygotes: zygotes, logger: logger)
        host.callers.load(keys: try await registry.invokerKeys(), access: try await registry.accessByName())
        await host.collectEnvironments()
        for function in functions {
            host.catalog.record(function)
            if let requirements = function.requirements, let block = Requirements.block(in: function.source) {
                host.installer.remember(requirements, of: block)
            }
        }
        for function in functions { host.pool.makeCurrent(function) }
        await host.loader.spares.replenish()
        logger.info(
            "zygote ready",
            metadata: [
                "python": "\(zygote.pythonVersion)", "pandas": "\(zygote.pandasVersion)", "functions": "\(functions.count)",
            ])
        return host
    }

    private init(
        configuration: HostConfiguration, registry: any FunctionStore, sharedStore: PostgresStore?, zygotes: ZygoteSupervisor,
        logger: Logger
    ) {
        self.configuration = configuration
        self.registry = registry
        self.sharedStore = sharedStore
        self.sharedInvocationLog = sharedStore.map { SharedInvocationLog(store: $0, keep: configuration.logHistory, logger: logger) }
        self.zygotes = zygotes
        self.logger = logger
        self.catalog = FunctionCatalog()
        self.invocationLog = InvocationLog(capacity: configuration.logHistory)
        self.callers = CallerPolicy(defaultAccess: FunctionAccess(isPrivate: configuration.privateByDefault))
        let installer = PackageInstaller(
            settings: configuration.packages, runtimeDirectory: configuration.runtimeDirectory,
            environments: configuration.dataDirectory.appendingPathComponent("environments"))
        self.installer = installer
        let environments = EnvironmentZygotes(
            installer: installer, memoryBudget: configuration.environmentMemoryBytes,
            workerMemoryBytes: configuration.workerLimits.memoryBytes, logger: logger
        ) { environment in
            try await ZygoteClient.start(
                executable: configuration.executable, runtimeDirectory: configuration.runtimeDirectory,
                allowWeakerSandbox: configuration.allowWeakerSandbox, environment: environment,
                startTimeout: configuration.timeout, logger: logger)
        }
        let loader = WorkerLoader(
            zygotes: zygotes, environments: environments, group: MultiThreadedEventLoopGroup.singleton,
            limits: configuration.workerLimits,
            spareCount: configuration.spareWorkers, timeout: configuration.timeout,
            maximumResponseBytes: configuration.maximumResponseBytes)
        self.loader = loader
        let catalog = self.catalog
        self.pool = WorkerPool(limits: configuration.limits, recycling: configuration.recycling, logger: logger) { key, loop in
            // The key's exact version, or nothing: never a later function's version with the same number.
            let serving = catalog[key.name]
            let function = serving?.key == key ? serving : try await registry.version(name: key.name, version: key.version)
            guard let function, function.key == key else { throw HostError.functionNotFound(key.name) }
            switch try await loader.load(function, near: loop) {
            case .ready(let worker): return worker
            case .failed(let frame): throw WorkerLoader.noLongerLoads(function.version, frame)
            }
        }
    }

    // MARK: Catalog

    /// The serving version of every function, by name.
    public func functions() -> [FunctionVersion] {
        catalog.all
    }

    public func function(named name: String) throws -> FunctionVersion {
        guard let function = catalog[name] else { throw HostError.functionNotFound(name) }
        return function
    }

    /// Deletes every version of `name` and retires its workers.
    public func delete(name: String, by actor: String) async throws {
        try await switching.withLock {
            guard try await registry.delete(name: name, by: actor) else { throw HostError.functionNotFound(name) }
            await retire(name)
        }
        logger.info("deleted", metadata: ["function": "\(name)"])
        await collectEnvironments()
    }

    /// Removes the package environments no stored version uses, and stops their zygotes.
    func collectEnvironments() async {
        guard let inUse = try? await registry.environmentsInUse() else { return }
        await loader.environments.collect(inUse: inUse, installGrace: installer.settings.timeout + configuration.timeout)
    }

    /// Forgets `name` here once the store has: its catalog entry, access, workers and records.
    func retire(_ name: String) async {
        catalog.remove(name)
        callers.setAccess(nil, of: name)
        pool.removeFunction(name)
        invocationLog.remove(name)
    }

    /// Every version of `name`, oldest first.
    public func versions(of name: String) async throws -> [FunctionVersion] {
        let versions = try await registry.versions(of: name)
        guard !versions.isEmpty else { throw HostError.functionNotFound(name) }
        return versions
    }

    /// The recent invocations of `name`, newest first: on every node when the store is shared.
    /// - Throws: `HostError.functionNotFound`, or `.storeUnavailable` when the shared store is away.
    public func recentInvocations(of name: String) async throws -> [InvocationRecord] {
        _ = try function(named: name)
        guard let sharedInvocationLog else {
            // A call that ended as its function was deleted may have been kept after the delete
            // cleared the log: only records of versions still stored are shown.
            let records = invocationLog.records(of: name)
            var stored: [Int: String] = [:]
            for version in Set(records.map(\.version)) {
                stored[version] = try await registry.version(name: name, version: version)?.instance
            }
            return records.filter { stored[$0.version] == $0.instance }
        }
        return try await sharedInvocationLog.records(of: name)
    }

    // MARK: Health

    public struct Health: Sendable {
        public let python: String
        public let pandas: String
        public let workers: WorkerPool.Counts
        public let spareWorkers: Int
        /// False while the zygote is being restarted: no new worker can start.
        public let zygoteRunning: Bool
        public let sandboxLayers: [String]
        public let allLayers: [String]
        /// False when the function store is read-only: functions serve, changes are refused.
        public let storeWritable: Bool
        /// Why the shared store is not followed now (functions serve, changes are refused), or nil.
        public let storeProblem: String?
    }

    public func health() async -> Health {
        Health(
            python: zygotes.first.pythonVersion, pandas: zygotes.first.pandasVersion, workers: pool.counts,
            spareWorkers: await loader.spares.readyCount,
            zygoteRunning: zygotes.isRunning, sandboxLayers: zygotes.first.sandboxLayers.map(\.rawValue),
            allLayers: SandboxLayer.allCases.map(\.rawValue), storeWritable: registry.isWritable,
            storeProblem: storeStatus.problem)
    }

    /// Sets the pool's gauges; the metrics route calls it before exporting.
    public func recordPoolMetrics() async {
        HostMetrics.record(pool.counts, byFunction: pool.countsByFunction, spares: await loader.spares.readyCount)
        HostMetrics.record(environments: await loader.environments.installedCount, zygotes: await loader.environments.count)
    }

    /// What keeps the host going, for the application's service group: the zygote's supervisor
    /// and the maintenance that retires idle workers. `shutdown` ends the host once they stopped.
    /// With a shared store, also the follower of other nodes' changes and the shipper of
    /// invocation records.
    public var services: [any Service] {
        var services: [any Service] = [zygotes, Maintenance(host: self)]
        if let sharedStore { services.append(StoreFollower(host: self, store: sharedStore)) }
        if let sharedInvocationLog { services.append(sharedInvocationLog) }
        return services
    }

    /// Ends every worker and the zygote, and closes the shared store's connections.
    public func shutdown() async {
        await loader.spares.shutdown()
        pool.shutdown()
        await loader.environments.shutdown()
        await zygotes.shutdown()
        await sharedStore?.close()
    }

    /// Retires idle environment zygotes past the memory budget: those no live worker came from.
    func retireEnvironmentZygotes() async {
        let live = pool.countsByFunction.filter { $0.value.live > 0 }.keys
        let inUse = Set(live.compactMap { catalog[$0]?.requirements?.environment })
        await loader.environments.retire(keeping: inUse)
    }

    /// Every second until shutdown: retires idle workers past the idle timeout, and idle workers
    /// that burn CPU (see `WorkerPool.expireIdle`).
    struct Maintenance: Service {
        let host: FunctionHost

        func run() async {
            // The sleep throws once the group shuts down or cancels, which ends the loop.
            while (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: .seconds(1)) })) != nil {
                host.pool.expireIdle()
                await host.retireEnvironmentZygotes()
            }
        }
    }
}
