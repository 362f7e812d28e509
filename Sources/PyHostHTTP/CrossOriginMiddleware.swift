import Foundation
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
        let parts = APIRoute.components(of: path)
        guard APIRoute.invoke.matches(components: parts) || APIRoute.invokeVersion.matches(components: parts) else { return nil }
        return String(parts[2])
    }

    static func headers(for origin: String) -> HTTPFields {
        [
            .accessControlAllowOrigin: origin, .vary: "Origin",
            .accessControlExposeHeaders: "Pyhost-Invocation-Id, Pyhost-Worker, Retry-After",
        ]
    }

    /// `origins`, each a web origin as a browser sends it in `Origin`: `http` or `https`, a host in
    /// lower case (DNS labels in ASCII, punycode for others; IPv4; IPv6 in brackets) and a port
    /// only when not the scheme's default.
    /// - Throws: `HostError.invalidBody` naming the first that is not.
    static func validated(_ origins: [String]) throws -> [String] {
        guard origins.count <= 32 else { throw HostError.invalidBody("allowed_origins: at most 32") }
        for origin in origins where origin.utf8.count > 256 || !isOrigin(origin) {
            throw HostError.invalidBody(
                "allowed_origins: \"\(origin)\" is not an origin as a browser sends it, such as https://dash.example.com (scheme and host in lower case, a port only when not the scheme's default, no path)"
            )
        }
        return Array(Set(origins)).sorted()
    }

    static func isOrigin(_ origin: String) -> Bool {
        let parts = origin.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let defaultPort = ["http": "80", "https": "443"][String(parts[0])] else { return false }
        var host = parts[1]
        if let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") {
            let port = host[host.index(after: colon)...]
            guard let number = Int(port), (1...65535).contains(number), String(number) == port, port != defaultPort else { return false }
            host = host[..<colon]
        }
        if host.hasPrefix("[") {
            // As a browser writes it: the shortest form (RFC 5952), which inet_ntop also gives.
            guard host.hasSuffix("]") else { return false }
            let address = String(host.dropFirst().dropLast())
            return canonicalAddress(address, family: AF_INET6) == address
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        // A browser reads a host ending in a number as an IPv4 address and writes it dotted decimal.
        if let last = labels.last, last.first?.isNumber == true {
            return canonicalAddress(String(host), family: AF_INET) == String(host)
        }
        return !host.isEmpty && host.utf8.count <= 253
            && labels.allSatisfy { label in
                (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                    && label.utf8.allSatisfy {
                        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                            || $0 == UInt8(ascii: "-")
                    }
            }
    }

    /// `address` as inet_ntop writes it, if inet_pton reads it as an address of `family`.
    private static func canonicalAddress(_ address: String, family: Int32) -> String? {
        var bytes = [UInt8](repeating: 0, count: 16)
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_pton(family, address, &bytes) == 1, inet_ntop(family, bytes, &text, socklen_t(text.count)) != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension HTTPField.Name {
    static let accessControlRequestMethod = Self("Access-Control-Request-Method")!
}
