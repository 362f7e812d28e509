import Hummingbird
import Metrics
import Logging
import Prometheus
import PyHostCore

#if canImport(Glibc)
    import Glibc
#endif

/// The HTTP server around a `FunctionHost` (or any `FunctionHostProtocol`).
public enum PyHostServer {
    /// Builds the application: routes, JSON errors, and the address to listen on.
    /// - Parameter publicHosts: names besides IP addresses and `localhost` that clients may send as
    ///   `Host` (see `BrowserGuardMiddleware`).
    public static func application(
        host: some FunctionHostProtocol, address: String, port: Int, publicHosts: [String] = [], deployToken: DeployToken?,
        metrics: PrometheusCollectorRegistry, logger: Logger
    ) throws -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        // Metrics outside the error middleware: they count the status the client got, not the thrown error.
        let console = ConsoleFiles.load()
        router.add(middleware: MetricsMiddleware())
        // Outside the error middleware: an invocation's errors carry its CORS headers too.
        router.add(middleware: CrossOriginMiddleware(host: host))
        router.add(middleware: JSONErrorMiddleware(staticPaths: Set(console.files.keys)))
        let browserGuard = BrowserGuardMiddleware<BasicRequestContext>(publicHosts: publicHosts + [address]) { origin, function in
            host.allowsCrossOrigin(origin, toCall: function)
        }
        router.add(middleware: browserGuard)
        let routes = FunctionRoutes<BasicRequestContext, _>(
            host: host, deployToken: deployToken, openAPIDocument: try OpenAPIDocument.load(), metrics: metrics)
        routes.add(to: router)
        console.add(to: router)
        let connections = ConnectionGuard.forDescriptorLimit()
        let invocations = routes.invocationSteps(
            acceptsAuthority: { browserGuard.accepts(authority: $0) }, serverName: serverName, logger: logger)
        return Application(
            router: router,
            server: .http1(
                configuration: .init(additionalChannelHandlers: [connections.handler(), InvokeFastPath(steps: invocations)])),
            configuration: .init(address: .hostname(address, port: port), serverName: serverName),
            logger: logger
        )
    }
}

extension PyHostServer {
    /// The `Server` header of every answer.
    static let serverName = "pyhost"

    /// Routes swift-metrics into a Prometheus registry, which `/metrics` exports. Call once, first.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(DocumentedMetricsFactory(registry: registry))
        return registry
    }

    /// Whether `address` only accepts connections from this machine: `localhost`, or an IP
    /// address literal in 127.0.0.0/8 or `::1`. Any other name may resolve anywhere.
    public static func isLoopback(_ address: String) -> Bool {
        if address == "localhost" { return true }
        var ipv4 = in_addr()
        if inet_pton(AF_INET, address, &ipv4) == 1 { return UInt32(bigEndian: ipv4.s_addr) >> 24 == 127 }
        var ipv6 = in6_addr()
        guard inet_pton(AF_INET6, address, &ipv6) == 1 else { return false }
        return withUnsafeBytes(of: &ipv6) { Array($0) } == Array(repeating: 0, count: 15) + [1]
    }
}
