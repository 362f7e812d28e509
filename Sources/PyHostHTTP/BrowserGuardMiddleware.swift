import HTTPTypes
import Hummingbird

#if canImport(Glibc)
    import Glibc
#endif

/// Refuses what a web page could make a developer's browser send to pyhost.
///
/// - DNS rebinding: a page's own name, resolved to 127.0.0.1, reaches the server with that name as
///   `Host`. Every route answers only a `Host` that is an IP address literal (no page can rebind
///   one), `localhost`, or a name given with `--public-host`; anything else gets 421 `UnknownHost`.
/// - Cross-site requests: a page may POST a "simple" request (no preflight) anywhere. Every `POST`
///   and `DELETE` whose `Sec-Fetch-Site` is `cross-site`, or whose `Origin` is not the origin the
///   request was sent to, gets 403 `CrossSiteRequest`.
///
/// curl and the CLI send neither `Origin` nor `Sec-Fetch-Site`, and an address as `Host`.
///
/// The one exception: an invocation from one of the function's `allowed_origins`
/// (`CrossOriginMiddleware`).
struct BrowserGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Host names accepted besides IP literals and `localhost`, lowercased.
    let publicHosts: Set<String>
    /// Whether a page from an origin (first) may call a function (second).
    let allowsCrossOrigin: @Sendable (String, String) -> Bool

    init(publicHosts: [String], allowsCrossOrigin: @escaping @Sendable (String, String) -> Bool = { _, _ in false }) {
        self.publicHosts = Set(publicHosts.map { $0.lowercased() })
        self.allowsCrossOrigin = allowsCrossOrigin
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let authority = request.head.authority, !accepts(authority: authority) {
            throw APIError(
                .misdirectedRequest, type: "UnknownHost",
                message: "this server answers to its IP addresses, localhost and the names given with --public-host, not \"\(authority)\"")
        }
        if request.method == .post || request.method == .delete || request.method == .put || request.method == .patch {
            let site = request.headers[.secFetchSite]
            let origin = request.headers[.origin]
            let invited = origin.map { origin in
                CrossOrigin.invokedFunction(request.uri.path).map { allowsCrossOrigin(origin, $0) } ?? false
            }
            if invited != true, site == "cross-site" || (origin != nil && !Self.origin(origin!, matches: request.head.authority)) {
                throw APIError(
                    .forbidden, type: "CrossSiteRequest",
                    message:
                        "changes and invocations are refused from another site's page (Origin \(origin ?? "absent"), Sec-Fetch-Site \(site ?? "absent"))"
                )
            }
        }
        return try await next(request, context)
    }

    func accepts(authority: String) -> Bool {
        let host = Self.hostName(of: authority)
        return host == "localhost" || Self.isAddressLiteral(host) || publicHosts.contains(host)
            || publicHosts.contains(authority.lowercased())
    }

    /// `example.com:3000` → `example.com`, `[::1]:3000` → `::1`, lowercased.
    static func hostName(of authority: String) -> String {
        let lowered = authority.lowercased()
        if lowered.hasPrefix("["), let end = lowered.firstIndex(of: "]") {
            let port = lowered[lowered.index(after: end)...]
            guard port.isEmpty || (port.first == ":" && port.dropFirst().allSatisfy(\.isNumber)) else { return lowered }
            return String(lowered[lowered.index(after: lowered.startIndex)..<end])
        }
        if let colon = lowered.lastIndex(of: ":"), lowered.firstIndex(of: ":") == colon {
            return String(lowered[..<colon])
        }
        return lowered
    }

    static func isAddressLiteral(_ host: String) -> Bool {
        var ipv4 = in_addr()
        var ipv6 = in6_addr()
        return inet_pton(AF_INET, host, &ipv4) == 1 || inet_pton(AF_INET6, host, &ipv6) == 1
    }

    /// Whether `origin` (`scheme://authority`) names the authority the request was sent to.
    static func origin(_ origin: String, matches authority: String?) -> Bool {
        guard let authority, let separator = origin.range(of: "://") else { return false }
        return origin[separator.upperBound...].lowercased() == authority.lowercased()
    }
}

extension HTTPField.Name {
    static let secFetchSite = Self("Sec-Fetch-Site")!
}
