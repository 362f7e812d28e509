import HTTPTypes
import Hummingbird
import PyHostCore

/// The bearer token a configurator presents to deploy or delete functions.
public struct DeployToken: Sendable {
    private let digest: [UInt8]

    public init(_ token: String) {
        digest = InvokerKey.digest(of: token)
    }

    /// Whether `headers` carry `Authorization: Bearer <this token>`. The comparison runs over
    /// fixed-length digests in constant time, so its duration says nothing about the token.
    public func accepts(_ headers: HTTPFields) -> Bool {
        BearerCredential.first(in: headers) { InvokerKey.digest($0, matches: digest) } != nil
    }

    /// - Throws: `unauthorized` unless `request` carries the token.
    func authorize(_ request: Request) throws {
        guard accepts(request.headers) else { throw Self.unauthorized }
    }

    /// The 401 for a request that needs the token and lacks it.
    static let unauthorized = APIError(
        .unauthorized, type: "Unauthorized",
        message:
            "changing functions, keys and access, reading sources, logs and the audit trail, and calling a version that does not serve, require the header Authorization: Bearer <deploy token>",
        headers: [.wwwAuthenticate: "Bearer"])
}
