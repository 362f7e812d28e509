import Crypto
import Foundation

/// A key that lets its holder invoke private functions. The secret is shown once, at creation;
/// the store keeps its SHA-256 digest, and lists, metrics and the audit trail name it by `id`.
public struct InvokerKey: Sendable, Equatable {
    /// Public: `k_` and 12 hex digits, also the second part of the secret.
    public let id: String
    let digest: [UInt8]
    /// The functions it may call; nil means every function.
    public let functions: [String]?
    /// At most this many calls per second, across the functions it covers; nil means no limit.
    public let ratePerSecond: Double?
    public let createdAt: Date

    /// How every secret starts, which tells it from another bearer value.
    public static let prefix = "pyk_"

    public func covers(_ function: String) -> Bool {
        functions?.contains(function) ?? true
    }

    /// A new key and its secret, `pyk_<id>_<32 random hex digits>`.
    static func make(functions: [String]?, ratePerSecond: Double?) -> (key: InvokerKey, secret: String) {
        let id = "k_" + randomHex(bytes: 6)
        let secret = "\(prefix)\(id)_\(randomHex(bytes: 16))"
        let key = InvokerKey(
            id: id, digest: digest(of: secret), functions: functions, ratePerSecond: ratePerSecond,
            createdAt: Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded() / 1000))
        return (key, secret)
    }

    /// The id a presented secret names, when it has a key's form.
    static func id(of secret: String) -> String? {
        guard secret.hasPrefix(prefix + "k_") else { return nil }
        let id = secret.utf8.dropFirst(prefix.utf8.count)
        guard let end = id.dropFirst(2).firstIndex(of: UInt8(ascii: "_")),
            !secret.utf8[secret.utf8.index(after: end)...].contains(UInt8(ascii: "_"))
        else { return nil }
        return String(secret[id.startIndex..<end])
    }

    /// Whether `secret` is this key's, compared over fixed-length digests in constant time.
    func accepts(_ secret: String) -> Bool {
        Self.digest(secret, matches: digest)
    }

    public static func digest(of secret: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(secret.utf8)))
    }

    /// Whether the SHA-256 of `secret` is `digest`, in time that depends on neither: the
    /// comparison runs over every byte of fixed-length digests. No allocation, as it runs per call.
    public static func digest(_ secret: some StringProtocol, matches digest: [UInt8]) -> Bool {
        var hasher = SHA256()
        if secret.utf8.withContiguousStorageIfAvailable({ hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }) == nil {
            hasher.update(data: Array(secret.utf8))
        }
        let presented = hasher.finalize()
        return presented.withUnsafeBytes { bytes in
            guard bytes.count == digest.count else { return false }
            var difference: UInt8 = 0
            for index in 0..<bytes.count { difference |= bytes[index] ^ digest[index] }
            return difference == 0
        }
    }

    private static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}

/// Who may call a function, and how often.
public struct FunctionAccess: Sendable, Equatable {
    /// A private function needs a key that covers it (or the deploy token).
    public var isPrivate: Bool
    /// At most this many calls per second, from all callers together; nil means no limit.
    public var ratePerSecond: Double?
    /// The web origins (`https://dash.example.com`) whose pages may call it from a browser (CORS).
    public var allowedOrigins: [String]

    public init(isPrivate: Bool, ratePerSecond: Double? = nil, allowedOrigins: [String] = []) {
        self.isPrivate = isPrivate
        self.ratePerSecond = ratePerSecond
        self.allowedOrigins = allowedOrigins
    }
}

/// One change to the host, as the audit trail keeps it.
public struct AuditEntry: Sendable, Equatable {
    public let at: Date
    /// `token` (the deploy token was presented), or `anonymous` where no token is required.
    public let actor: String
    /// `deploy`, `rollback`, `delete`, `access`, `key_create` or `key_revoke`.
    public let action: String
    /// The function's name or the key's id.
    public let target: String
    public let detail: String

    public init(actor: String, action: String, target: String, detail: String, at: Date = Date()) {
        self.at = Date(timeIntervalSince1970: (at.timeIntervalSince1970 * 1000).rounded() / 1000)
        self.actor = actor
        self.action = action
        self.target = target
        self.detail = detail
    }
}

/// Each change as the audit trail records it, written in the same store transaction as the change:
/// a change that did not happen is never recorded, and one that happened always is.
extension AuditEntry {
    static func deploy(_ version: FunctionVersion, by actor: String) -> AuditEntry {
        AuditEntry(actor: actor, action: "deploy", target: version.name, detail: "version \(version.version), sha256 \(version.sha256)")
    }

    static func rollback(_ version: FunctionVersion, by actor: String) -> AuditEntry {
        AuditEntry(actor: actor, action: "rollback", target: version.name, detail: "version \(version.version)")
    }

    static func delete(_ name: String, by actor: String) -> AuditEntry {
        AuditEntry(actor: actor, action: "delete", target: name, detail: "every version")
    }

    static func access(_ access: FunctionAccess, of name: String, by actor: String) -> AuditEntry {
        let detail =
            (access.isPrivate ? "private" : "public") + rate(access.ratePerSecond)
            + (access.allowedOrigins.isEmpty ? "" : ", origins " + access.allowedOrigins.joined(separator: " "))
        return AuditEntry(actor: actor, action: "access", target: name, detail: detail)
    }

    static func keyCreate(_ key: InvokerKey, by actor: String) -> AuditEntry {
        let detail = (key.functions.map { "functions " + $0.joined(separator: ",") } ?? "every function") + rate(key.ratePerSecond)
        return AuditEntry(actor: actor, action: "key_create", target: key.id, detail: detail)
    }

    static func keyRevoke(_ id: String, by actor: String) -> AuditEntry {
        AuditEntry(actor: actor, action: "key_revoke", target: id, detail: "revoked")
    }

    private static func rate(_ perSecond: Double?) -> String {
        perSecond.map { ", \($0.formattedRate)/s" } ?? ", no rate limit"
    }
}
