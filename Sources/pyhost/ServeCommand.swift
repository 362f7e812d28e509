import ArgumentParser
import Foundation
import Hummingbird
import Logging
import PyHostCore
import PyHostHTTP
import PyHostWire
import ServiceLifecycle

/// `pyhost serve`: the HTTP server, its zygote and its workers.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the function host.")

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on.")
    var port = 3000

    @Option(
        name: .customLong("public-host"),
        help: "A name clients use to reach this server, accepted as Host (repeatable; IP addresses and localhost always are).")
    var publicHosts: [String] = []

    @Option(name: .customLong("data-dir"), help: "Where the function store lives (SQLite), unless --store names a shared one.")
    var dataDirectory = "./data"

    @Option(
        name: .customLong("store"),
        help: ArgumentHelp(
            "A PostgreSQL store shared by several nodes: postgres://user@host:port/database (or PYHOST_STORE). "
                + "The password comes from PGPASSWORD or PYHOST_STORE, never from this flag."))
    var store: String?

    @Option(name: .customLong("node-name"), help: "This node's name in invocation records (or PYHOST_NODE_NAME; default host:port).")
    var nodeName: String?

    @Option(help: "The default deadline of an invocation, in seconds.")
    var timeout: Double = 10

    @Option(name: .customLong("queue-depth"), help: "Calls that may wait for a worker, per function.")
    var queueDepth = 64

    @Option(name: .customLong("idle-timeout"), help: "Seconds after which an idle worker retires.")
    var idleTimeout: Double = 600

    @Option(
        name: .customLong("deploy-token"),
        help: ArgumentHelp("Require Authorization: Bearer <token> to deploy and delete. " + DeployTokenSource.flagHelp))
    var deployToken: String?

    @Option(name: .customLong("deploy-token-file"), help: ArgumentHelp(DeployTokenSource.fileHelp))
    var deployTokenFile: String?

    @Option(
        name: .customLong("default-access"),
        help: "Whether a function whose access was never set is public (anyone may call it) or private (a key must cover it).")
    var defaultAccess: DefaultAccess = .public

    enum DefaultAccess: String, ExpressibleByArgument, CaseIterable {
        case `public`, `private`
    }

    @Option(name: .customLong("worker-memory"), help: "Address space of each worker, in MiB (it includes ~220 MiB shared with the zygote).")
    var workerMemory: UInt64 = 1024

    @Flag(name: .customLong("allow-weaker-sandbox"), help: "Start even if this host cannot provide every sandbox layer.")
    var allowWeakerSandbox = false

    @Option(name: .customLong("spare-workers"), help: "Workers forked and warmed in advance for deploys, cold functions and bursts.")
    var spareWorkers = 2

    @Option(name: .customLong("max-source-bytes"), help: "The largest module a deploy accepts.")
    var maxSourceBytes = 1024 * 1024

    @Option(name: .customLong("max-request-bytes"), help: "The largest request body an invocation accepts (413 beyond).")
    var maxRequestBytes = 6 * 1024 * 1024

    @Option(name: .customLong("max-response-bytes"), help: "The largest result a handler may return (ResponseTooLarge beyond).")
    var maxResponseBytes = 6 * 1024 * 1024

    @Option(name: .customLong("recycle-after"), help: "Calls after which a worker retires (each draws up to 10 % more).")
    var recycleAfter = 10_000

    @Option(name: .customLong("recycle-rss"), help: "Resident memory, in MiB, past which a worker retires.")
    var recycleRSS: UInt64 = 512

    @Option(name: .customLong("log-history"), help: "Invocations kept per function for GET /functions/{name}/logs.")
    var logHistory = 100

    @Option(name: .customLong("workers-per-function"), help: "Workers one function may have at once (default: the CPU count).")
    var workersPerFunction: Int?

    @Option(name: .customLong("max-workers"), help: "Workers alive across all functions (default: 4 × the CPU count).")
    var maxWorkers: Int?

    @OptionGroup var packages: PackageOptions

    func validate() throws {
        guard timeout > 0, timeout <= 300 else { throw ValidationError("--timeout must be in (0, 300] seconds") }
        guard queueDepth >= 0 else { throw ValidationError("--queue-depth must not be negative") }
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be positive") }
        // Resolved first, so a token no header can carry refuses the start before any work.
        let token = try resolvedDeployToken
        guard PyHostServer.isLoopback(host) || token != nil else {
            throw ValidationError("listening on \(host) lets other machines deploy code: set --deploy-token or PYHOST_DEPLOY_TOKEN")
        }
        guard maxSourceBytes > 0, maxRequestBytes > 0, maxResponseBytes > 0 else {
            throw ValidationError("--max-source-bytes, --max-request-bytes and --max-response-bytes must be positive")
        }
        guard recycleAfter >= 1, recycleRSS >= 1 else { throw ValidationError("--recycle-after and --recycle-rss must be at least 1") }
        guard logHistory >= 0 else { throw ValidationError("--log-history must not be negative") }
        guard spareWorkers >= 0 else { throw ValidationError("--spare-workers must not be negative") }
        guard workerMemory >= 384 else { throw ValidationError("--worker-memory must be at least 384 MiB") }
        guard (workersPerFunction ?? 1) >= 1, (maxWorkers ?? 1) >= 1 else {
            throw ValidationError("--workers-per-function and --max-workers must be at least 1")
        }
        if let store, (try? PostgresLocation(url: store))?.password != nil {
            throw ValidationError("--store must not carry a password, which every user sees in ps: use PGPASSWORD or PYHOST_STORE")
        }
        _ = try sharedStore
    }

    func run() async throws {
        LoggingSystem.bootstrap { ServerLogHandler(label: $0) }
        let metrics = PyHostServer.bootstrapMetrics()
        var logger = Logger(label: "pyhost")
        logger.logLevel = .info

        var limits = HostConfiguration.defaultLimits()
        limits.queueDepth = queueDepth
        limits.perFunction = workersPerFunction ?? limits.perFunction
        limits.total = maxWorkers ?? limits.total
        limits.idleTimeout = .milliseconds(Int64(idleTimeout * 1000))
        var configuration = HostConfiguration(
            dataDirectory: URL(fileURLWithPath: dataDirectory),
            runtimeDirectory: RuntimeLocation.pythonDirectory,
            executable: RuntimeLocation.executable,
            timeout: .milliseconds(Int64(timeout * 1000)),
            limits: limits)
        configuration.workerLimits = WorkerLimits(memoryBytes: workerMemory * 1024 * 1024)
        configuration.allowWeakerSandbox = allowWeakerSandbox
        configuration.spareWorkers = spareWorkers
        configuration.logHistory = logHistory
        configuration.privateByDefault = defaultAccess == .private
        configuration.maximumSourceBytes = maxSourceBytes
        configuration.maximumRequestBytes = maxRequestBytes
        configuration.maximumResponseBytes = maxResponseBytes
        configuration.recycling.afterCalls = recycleAfter
        configuration.recycling.rssBytes = recycleRSS * 1024 * 1024
        configuration.packages = packages.settings
        configuration.environmentMemoryBytes = packages.environmentMemory * 1024 * 1024
        configuration.sharedStore = try sharedStore
        configuration.nodeName = resolvedNodeName
        let host: FunctionHost
        do {
            host = try await FunctionHost.start(configuration, logger: logger)
        } catch {
            logger.critical("cannot start: \(Self.oneLine(error))")
            throw ExitCode(1)
        }
        let app = try PyHostServer.application(
            host: host, address: self.host, port: port, publicHosts: publicHosts,
            deployToken: try resolvedDeployToken.map(DeployToken.init),
            metrics: metrics, logger: logger)
        // Shut down in reverse order: the server stops taking calls before the host's services stop.
        let services = ServiceGroup(
            configuration: .init(
                services: (host.services + [app]).map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await services.run()
        } catch {
            await host.shutdown()
            logger.critical("cannot serve on \(self.host):\(port): \(Self.oneLine(error))")
            throw ExitCode(1)
        }
        await host.shutdown()
        logger.info("stopped")
    }
}

extension ServeCommand {
    /// An error's text on one line, so a start-up failure is one log line for a service manager.
    static func oneLine(_ error: any Error) -> String {
        "\(error)".split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }

    /// The shared store from --store or PYHOST_STORE, with the password from PGPASSWORD unless the variable has one.
    var sharedStore: PostgresLocation? {
        get throws {
            let environment = ProcessInfo.processInfo.environment
            guard let url = store ?? environment["PYHOST_STORE"].flatMap({ $0.isEmpty ? nil : $0 }) else { return nil }
            do {
                return try PostgresLocation(url: url, environmentPassword: environment["PGPASSWORD"])
            } catch {
                throw ValidationError("--store / PYHOST_STORE: \(error)")
            }
        }
    }

    /// --node-name, PYHOST_NODE_NAME, or this machine's host name and the port.
    var resolvedNodeName: String {
        nodeName ?? ProcessInfo.processInfo.environment["PYHOST_NODE_NAME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "\(ProcessInfo.processInfo.hostName):\(port)"
    }

    /// The deploy token from the flag, the file or PYHOST_DEPLOY_TOKEN; an empty flag or variable is none.
    var resolvedDeployToken: String? {
        get throws { try DeployTokenSource.resolve(flag: deployToken, file: deployTokenFile) }
    }
}
