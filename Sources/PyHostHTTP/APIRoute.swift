import HTTPTypes

/// Every route of the API, once: `FunctionRoutes` registers these, a known path asked with another
/// method answers 405 with their methods, and openapi.json documents exactly these (a test checks).
enum APIRoute: CaseIterable, Sendable {
    case list, show, deploy, delete, invoke, invokeVersion, versions, showVersion, rollback, logs, health, openAPI, metrics
    case access, setAccess, keys, createKey, revokeKey, audit

    var method: HTTPRequest.Method {
        switch self {
        case .list, .show, .versions, .showVersion, .logs, .health, .openAPI, .metrics, .access, .keys, .audit: return .get
        case .deploy, .invoke, .invokeVersion, .rollback, .createKey: return .post
        case .setAccess: return .put
        case .delete, .revokeKey: return .delete
        }
    }

    /// The path in Hummingbird's syntax (`:name` for a parameter).
    var path: String {
        switch self {
        case .list: return "/functions"
        case .deploy, .show, .delete: return "/functions/:name"
        case .invoke: return "/functions/:name/invoke"
        case .invokeVersion: return "/functions/:name/versions/:version/invoke"
        case .versions: return "/functions/:name/versions"
        case .showVersion: return "/functions/:name/versions/:version"
        case .rollback: return "/functions/:name/rollback"
        case .logs: return "/functions/:name/logs"
        case .health: return "/healthz"
        case .openAPI: return "/openapi.json"
        case .metrics: return "/metrics"
        case .access, .setAccess: return "/functions/:name/access"
        case .keys, .createKey: return "/keys"
        case .revokeKey: return "/keys/:id"
        case .audit: return "/audit"
        }
    }

    /// Whether `path` (a request's, without its query) is this route's path.
    func matches(_ path: String) -> Bool {
        matches(components: Self.components(of: path))
    }

    /// Whether a path split by `components(of:)` is this route's path.
    func matches(components parts: [Substring]) -> Bool {
        let pattern = Self.patterns[self]!
        return pattern.count == parts.count
            && zip(pattern, parts).allSatisfy { expected, part in
                expected.hasPrefix(":") ? !part.isEmpty : expected == part
            }
    }

    static func components(of path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: false)
    }

    /// Each route's path split once: a 404 compares the request's path with all of them.
    private static let patterns = Dictionary(uniqueKeysWithValues: allCases.map { ($0, components(of: $0.path)) })
}
