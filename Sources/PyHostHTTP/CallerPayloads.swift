import Foundation
import PyHostCore

/// The bodies of the key, access and audit routes, in the API's snake_case.
struct KeyPayload: Encodable {
    let id: String
    /// null means every function.
    let functions: Nullable<[String]>
    let rate_per_second: Nullable<Double>
    let created_at: String

    init(_ key: InvokerKey) {
        id = key.id
        functions = Nullable(key.functions)
        rate_per_second = Nullable(key.ratePerSecond)
        created_at = key.createdAt.iso8601
    }
}

/// A new key, with its secret: the only answer that holds it.
struct CreatedKeyPayload: Encodable {
    let key: String
    let id: String
    let functions: Nullable<[String]>
    let rate_per_second: Nullable<Double>
    let created_at: String

    init(_ key: InvokerKey, secret: String) {
        self.key = secret
        let listed = KeyPayload(key)
        (id, functions, rate_per_second, created_at) = (listed.id, listed.functions, listed.rate_per_second, listed.created_at)
    }
}

struct KeyListPayload: Encodable {
    let keys: [KeyPayload]
}

struct AccessPayload: Codable {
    let access: String
    let rate_per_second: Double?
    /// Left out of a request: none.
    let allowed_origins: [String]?

    init(_ access: FunctionAccess) {
        self.access = access.isPrivate ? "private" : "public"
        rate_per_second = access.ratePerSecond
        allowed_origins = access.allowedOrigins
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(access, forKey: .access)
        try container.encode(Nullable(rate_per_second), forKey: .rate_per_second)
        try container.encode(allowed_origins ?? [], forKey: .allowed_origins)
    }
}

/// What `POST /keys` takes.
struct KeyRequest: Decodable {
    let functions: [String]?
    let rate_per_second: Double?
}

struct AuditPayload: Encodable {
    struct Entry: Encodable {
        let at: String
        let actor: String
        let action: String
        let target: String
        let detail: String
    }
    let entries: [Entry]

    init(_ entries: [AuditEntry]) {
        self.entries = entries.map { Entry(at: $0.at.iso8601, actor: $0.actor, action: $0.action, target: $0.target, detail: $0.detail) }
    }
}
