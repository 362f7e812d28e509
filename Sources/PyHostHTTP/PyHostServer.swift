import Hummingbird
import Metrics
import Logging
import Prometheus
import PyHostCore

/// The HTTP server around a `FunctionHost`.
public enum PyHostServer {
    /// Builds the application: routes, JSON errors, and the address to listen on.
    public static func application(
        host: FunctionHost, address: String, port: Int, deployToken: DeployToken?, metrics: PrometheusCollectorRegistry,
        logger: Logger
    ) throws -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        // Metrics outside the error middleware: they count the status the client got, not the thrown error.
        let console = ConsoleFiles.load()
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: JSONErrorMiddleware(staticPaths: Set(console.files.keys)))
        FunctionRoutes(host: host, deployToken: deployToken, openAPIDocument: try OpenAPIDocument.load(), metrics: metrics)
            .add(to: router)
        console.add(to: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(address, port: port), serverName: "pyhost"),
            logger: logger
        )
    }
}

extension PyHostServer {
    /// Routes swift-metrics into a Prometheus registry, which `/metrics` exports. Call once, first.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(DocumentedMetricsFactory(registry: registry))
        return registry
    }

    /// Whether `address` only accepts connections from this machine.

    public static func isLoopback(_ address: String) -> Bool {
        address == "localhost" || address == "::1" || address.hasPrefix("127.")
    }
}
