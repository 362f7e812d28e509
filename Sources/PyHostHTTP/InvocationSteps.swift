import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import PyHostCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What `InvokeFastPath` does with a request it takes: the invoke route's own steps
/// (`FunctionRoutes.beginInvocation` and `finishInvocation`), its body budget and limit, its JSON
/// errors and Hummingbird's HTTP metrics.
struct InvocationSteps: Sendable {
    /// Checks a request's head; returns what makes the call once its body is in.
    let begin: @Sendable (Request, _ name: String, _ version: String?) throws -> @Sendable (ByteBuffer) async throws -> Response
    let bodies: RequestBodyBudget
    let maximumBodyBytes: Int
    /// The browser guard's rule for `Host`.
    let acceptsAuthority: @Sendable (String) -> Bool
    let serverName: String
    let logger: Logger

    /// An invocation the fast path takes: its function, version and route (as /metrics names it).
    struct Target: Equatable {
        let name: String
        let version: String?
        let route: String
    }

    /// The invocation `head` asks for, if the fast path takes it: a program's POST to an invoke
    /// route with a valid name. Browser requests, `Expect`, `Connection` other than keep-alive
    /// and a refused `Host` go through Hummingbird, with its guards.
    func target(of head: HTTPRequest) -> Target? {
        guard head.method == .post, let path = head.path else { return nil }
        let fields = head.headerFields
        guard fields[.origin] == nil, fields[.secFetchSite] == nil, fields[.expect] == nil else { return nil }
        if let connection = fields[.connection], connection.lowercased() != "keep-alive" { return nil }
        if let authority = head.authority, !acceptsAuthority(authority) { return nil }
        let parts = APIRoute.components(of: String(path.prefix { $0 != "?" }))
        guard parts.count > 2, FunctionName.isValid(String(parts[2])) else { return nil }
        if APIRoute.invoke.matches(components: parts) {
            return Target(name: String(parts[2]), version: nil, route: "/functions/{name}/invoke")
        }
        if APIRoute.invokeVersion.matches(components: parts), parts[4].utf8.allSatisfy({ (48...57).contains($0) }) {
            return Target(name: String(parts[2]), version: String(parts[4]), route: "/functions/{name}/versions/{version}/invoke")
        }
        return nil
    }

    /// The JSON error answer for `error`, as `JSONErrorMiddleware` gives it.
    func answer(for error: any Error) -> Answer {
        let apiError = JSONErrorMiddleware<BasicRequestContext>.apiError(for: error)
        if apiError.status == .internalServerError {
            logger.error("request failed", metadata: ["error": "\(error)"])
        }
        let body = (try? apiError.body()) ?? ByteBuffer(string: #"{"error":{"message":"the server failed","type":"InternalError"}}"#)
        var fields: HTTPFields = [.contentType: "application/json", .contentLength: String(body.readableBytes)]
        fields.append(contentsOf: apiError.headers)
        return Answer(head: HTTPResponse(status: apiError.status, headerFields: fields), body: body)
    }
}

extension FunctionRoutes {
    /// The invoke route's steps, for `InvokeFastPath`.
    func invocationSteps(acceptsAuthority: @escaping @Sendable (String) -> Bool, serverName: String, logger: Logger) -> InvocationSteps {
        InvocationSteps(
            begin: { request, name, version in
                let pending = try beginInvocation(request, name: name, version: version)
                return { body in try await finishInvocation(pending, body: body) }
            },
            bodies: bodies, maximumBodyBytes: host.configuration.maximumRequestBytes, acceptsAuthority: acceptsAuthority,
            serverName: serverName, logger: logger)
    }
}

/// The HTTP metrics Hummingbird's `MetricsMiddleware` keeps, with its labels and dimensions, for
/// requests answered beside it; handles made once per route and status.
enum HTTPMetrics {
    private static let active = Meter(label: "http.server.active_requests", dimensions: [("http.request.method", "POST")])
    private static let handles = Mutex<[String: (Counter, Timer)]>([:])

    static func began() {
        active.increment()
    }

    static func answered(route: String, status: HTTPResponse.Status, after duration: TimeAmount) {
        let (count, timer) = handles.withLock { handles in
            let key = "\(status.code) \(route)"
            if let found = handles[key] { return found }
            let dimensions = [
                ("http.route", route), ("http.request.method", "POST"), ("http.response.status_code", String(status.code)),
            ]
            let made = (
                Counter(label: "hb.requests", dimensions: dimensions),
                Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds)
            )
            handles[key] = made
            return made
        }
        count.increment()
        timer.recordNanoseconds(duration.nanoseconds)
        active.decrement()
    }

    /// A request begun and never answered: its connection closed.
    static func abandoned() {
        active.decrement()
    }
}

/// The `Date` header's value (RFC 9110), made once a second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((0, ""))

    static var now: String {
        let second = time(nil)
        return cache.withLock { cache in
            if cache.second != second { cache = (second, format(second)) }
            return cache.text
        }
    }

    static func format(_ second: Int) -> String {
        var clock = time_t(second)
        var parts = tm()
        gmtime_r(&clock, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
