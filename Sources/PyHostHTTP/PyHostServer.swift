import Hummingbird
import Logging
import PyHostCore

/// The HTTP server around a `FunctionHost`.
public enum PyHostServer {
    /// Builds the application: routes, JSON errors, and the address to listen on.
    public static func application(host: FunctionHost, address: String, port: Int, logger: Logger) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: JSONErrorMiddleware())
        FunctionRoutes(host: host).add(to: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(address, port: port), serverName: "pyhost"),
            logger: logger
        )
    }
}
