import HTTPTypes
import Hummingbird
import PyHostCore

/// CORS for invocations, and nothing else: a function's `allowed_origins` may call it from their
/// pages. A preflight (`OPTIONS` with `Access-Control-Request-Method: POST`) from such an origin is
/// answered here; the invocation's answer, errors included, carries `Access-Control-Allow-Origin`
/// so the page can read it. Any other origin gets no CORS header, and `BrowserGuardMiddleware`
/// refuses its POST; configurator routes never answer CORS.
struct CrossOriginMiddleware<Context: RequestContext, Host: FunctionHostProtocol>: RouterMiddleware {
    let host: Host

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], let function = CrossOrigin.invokedFunction(request.uri.path) else {
            return try await next(request, context)
        }
        let allowed = host.allowsCrossOrigin(origin, toCall: function)
        if request.method == .options {
            guard allowed, request.headers[.accessControlRequestMethod] == "POST" else {
                throw APIError(
                    .forbidden, type: "CrossOriginNotAllowed",
                    message: "\(function) may be called from a browser only by its allowed_origins, with POST; not from \(origin)")
            }
            var headers = CrossOrigin.headers(for: origin)
            headers[.accessControlAllowMethods] = "POST"
            headers[.accessControlAllowHeaders] = "Authorization, Content-Type, Accept"
            headers[.accessControlMaxAge] = "600"
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        if allowed { response.headers.append(contentsOf: CrossOrigin.headers(for: origin)) }
        return response
    }
}

enum CrossOrigin {
    /// The function an invoke path calls, if `path` is one.
    static func invokedFunction(_ path: String) -> String? {
        guard APIRoute.invoke.matches(path) || APIRoute.invokeVersion.matches(path) else { return nil }
        return path.split(separator: "/", omittingEmptySubsequences: false).dropFirst(2).first.map(String.init)
    }

    static func headers(for origin: String) -> HTTPFields {
        [
            .accessControlAllowOrigin: origin, .vary: "Origin",
            .accessControlExposeHeaders: "Pyhost-Invocation-Id, Pyhost-Worker, Retry-After",
        ]
    }

    /// `origins`, each a web origin as browsers send it (`https://host[:port]`, lower case, no path).
    /// - Throws: `HostError.invalidBody` naming the first that is not.
    static func validated(_ origins: [String]) throws -> [String] {
        guard origins.count <= 32 else { throw HostError.invalidBody("allowed_origins: at most 32") }
        for origin in origins {
            let parts = origin.split(separator: "://", maxSplits: 1)
            guard parts.count == 2, ["http", "https"].contains(parts[0]), origin == origin.lowercased(), !parts[1].isEmpty,
                parts[1].allSatisfy({ $0.isLetter || $0.isNumber || "-.:[]".contains($0) }), origin.count <= 256
            else {
                throw HostError.invalidBody(
                    "allowed_origins: \"\(origin)\" is not an origin such as https://dash.example.com (scheme and host in lower case, an optional port, no path)"
                )
            }
        }
        return Array(Set(origins)).sorted()
    }
}

extension HTTPField.Name {
    static let accessControlRequestMethod = Self("Access-Control-Request-Method")!
}
