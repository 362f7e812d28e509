import Foundation
import Logging
import NIOCore
import NIOPosix
import PyHostWire

/// The host: the function store, the zygote and the worker pool, with no HTTP in sight.
public final class FunctionHost: Sendable {
    public let configuration: HostConfiguration
    private let registry: FunctionRegistry
    private let zygotes: ZygoteSupervisor
    private let pool: WorkerPool
    private let catalog: FunctionCatalog
    private let loader: WorkerLoader
    private let logger: Logger

    /// Opens the store, starts the zygote, and loads the catalog of functions.
    public static func start(_ configuration: HostConfiguration, logger: Logger) async throws -> FunctionHost {
        let registry = try FunctionRegistry(directory: configuration.dataDirectory)
        let zygotes = try await ZygoteSupervisor(
            starter: { onEnd in
                try await ZygoteClient.start(
                    executable: configuration.executable, runtimeDirectory: configuration.runtimeDirectory,
                    allowWeakerSandbox: configuration.allowWeakerSandbox, logger: logger, onEnd: onEnd)
            }, logger: logger)
        let zygote = zygotes.first
        let functions = try await registry.latestVersions()
        let host = FunctionHost(configuration: configuration, registry: registry, zygotes: zygotes, logger: logger)
        for function in functions { host.catalog.record(function) }
        for function in functions { await host.pool.makeCurrent(name: function.name, version: function.version) }
        await host.loader.spares.replenish()
        logger.info("zygote ready", metadata: [
            "python": "\(zygote.pythonVersion)", "pandas": "\(zygote.pandasVersion)", "functions": "\(functions.count)",
        ])
        return host
    }

    private init(configuration: HostConfiguration, registry: FunctionRegistry, zygotes: ZygoteSupervisor, logger: Logger) {
        self.configuration = configuration
        self.registry = registry
        self.zygotes = zygotes
        self.logger = logger
        self.catalog = FunctionCatalog()
        let loader = WorkerLoader(
            zygotes: zygotes, group: MultiThreadedEventLoopGroup.singleton, limits: configuration.workerLimits,
            spareCount: configuration.spareWorkers, timeout: configuration.timeout,
            maximumResponseBytes: configuration.maximumResponseBytes)
        self.loader = loader
        let catalog = self.catalog
        self.pool = WorkerPool(limits: configuration.limits, recycling: configuration.recycling, logger: logger) { key in
            guard let function = catalog[key.name], function.version == key.version else {
                throw HostError.functionNotFound(key.name)
            }
            switch try await loader.load(name: key.name, source: function.source) {
            case .ready(let worker): return worker
            case .failed(let frame):
                throw HostError.workerDied("the module no longer loads: \(String(buffer: frame.payload))")
            }
        }
    }

    // MARK: Deploy

    /// Validates `body` as a module by loading it in a sandboxed worker, then stores it as the next version.
    /// - Parameter timeoutSeconds: this version's invocation deadline, instead of the server's.
    public func deploy(name: String, body: ByteBuffer, timeoutSeconds: Double? = nil) async throws -> DeployOutcome {
        try FunctionName.validate(name)
        guard body.readableBytes <= configuration.maximumSourceBytes else {
            throw HostError.sourceTooLarge(limit: configuration.maximumSourceBytes)
        }
        guard body.readableBytes > 0 else { throw HostError.emptySource }
        guard let source = String(validating: body.readableBytesView, as: UTF8.self) else { throw HostError.invalidUTF8Source }

        switch try await loader.load(name: name, source: source) {
        case .failed(let frame):
            return frame.kind == .syntaxError ? .syntaxError(frame.payload) : .importFailed(frame.payload)
        case .ready(let worker):
            return try await store(name: name, source: source, timeoutSeconds: timeoutSeconds, worker: worker)
        }
    }

    /// Makes the validated module the newest version; its worker becomes the first warm one.
    private func store(name: String, source: String, timeoutSeconds: Double?, worker: WorkerConnection) async throws -> DeployOutcome {
        let version: FunctionVersion
        do {
            version = try await registry.addVersion(name: name, source: source, timeoutSeconds: timeoutSeconds)
        } catch {
            worker.terminate()
            throw error
        }
        let current = catalog.record(version)
        let key = FunctionKey(name: name, version: version.version)
        await pool.makeCurrent(name: name, version: current.version)
        await pool.adopt(worker, key: key)
        logger.info("deployed", metadata: ["function": "\(key)", "sha256": "\(version.sha256)"])
        return .deployed(version)
    }

    // MARK: Invoke

    /// Calls the current version of `name` with `body`, a JSON request.
    public func invoke(name: String, body: ByteBuffer) async throws -> Invocation {
        guard let function = catalog[name] else { throw HostError.functionNotFound(name) }
        guard body.readableBytes <= configuration.maximumRequestBytes else {
            throw HostError.requestTooLarge(limit: configuration.maximumRequestBytes)
        }
        let key = FunctionKey(name: name, version: function.version)
        let timeout = function.timeoutSeconds.map { Duration.milliseconds(Int64($0 * 1000)) } ?? configuration.timeout
        let deadline = ContinuousClock.now + timeout
        let worker = try await pool.acquire(key, deadline: deadline, timeout: timeout)
        let reply: Frame
        do {
            reply = try await worker.exchange(Frame(kind: .invoke, payload: body), timeout: deadline - .now)
        } catch WorkerChannelError.deadlineExceeded {
            // The 504 goes out now; the worker gets its grace period in the background, and a
            // spare replaces it.
            worker.stop(grace: configuration.terminationGrace)
            await pool.release(worker, healthy: false)
            throw HostError.deadlineExceeded(seconds: timeout.seconds)
        } catch {
            await pool.release(worker, healthy: false)
            throw HostError.workerDied(await worker.describeEnd())
        }
        switch reply.kind {
        case .result:
            await pool.release(worker, healthy: true)
            return Invocation(outcome: .returned(reply.payload), workerPID: worker.pid)
        case .handlerError:
            await pool.release(worker, healthy: true)
            return Invocation(outcome: .raised(reply.payload), workerPID: worker.pid)
        case .requestError:
            await pool.release(worker, healthy: true)
            return Invocation(outcome: .badRequest(reply.payload), workerPID: worker.pid)
        case .sandboxViolation:
            await pool.release(worker, healthy: false)
            throw HostError.sandboxViolation(syscall: WorkerLoader.syscallName(reply.payload))
        default:
            await pool.release(worker, healthy: false)
            throw HostError.protocolViolation("the worker answered an invocation with a \(reply.kind) frame")
        }
    }

    // MARK: Catalog

    /// The newest version of every function, by name.
    public func functions() -> [FunctionVersion] {
        catalog.all
    }

    public func function(named name: String) throws -> FunctionVersion {
        guard let function = catalog[name] else { throw HostError.functionNotFound(name) }
        return function
    }

    /// Deletes every version of `name` and retires its workers.
    public func delete(name: String) async throws {
        guard try await registry.delete(name: name) else { throw HostError.functionNotFound(name) }
        catalog.remove(name)
        await pool.removeFunction(name)
        logger.info("deleted", metadata: ["function": "\(name)"])
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
    }

    public func health() async -> Health {
        Health(
            python: zygotes.first.pythonVersion, pandas: zygotes.first.pandasVersion, workers: await pool.counts,
            spareWorkers: await loader.spares.readyCount,
            zygoteRunning: zygotes.isRunning, sandboxLayers: zygotes.first.sandboxLayers.map(\.rawValue),
            allLayers: SandboxLayer.allCases.map(\.rawValue))
    }

    /// Retires idle workers past the idle timeout; the server calls it periodically.
    public func expireIdleWorkers() async {
        await pool.expireIdle()
    }

    /// Ends every worker and the zygote.
    public func shutdown() async {
        await loader.spares.shutdown()
        await pool.shutdown()
        zygotes.shutdown()
    }
}
