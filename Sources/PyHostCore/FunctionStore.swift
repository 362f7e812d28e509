import Crypto
import Foundation

/// The durable record of functions, their versions, which version serves, invoker keys, each
/// function's access and the audit trail. `FunctionRegistry` (SQLite, one node) and
/// `PostgresStore` (shared by every node of a cluster) keep the same model.
///
/// Every change is one transaction that also writes its audit entry. Failures are thrown as
/// `HostError.storeUnavailable`, `.storeFull` or `.storeReadOnly`, never with SQL in the text.
protocol FunctionStore: Sendable {
    /// Stores `source` as the next version of `name` and makes it the serving one; whether it is
    /// private (`access`, when given) is set in the same transaction.
    func addVersion(
        name: String, source: String, requirements: Requirements?, settings: FunctionSettings, access: FunctionAccess?,
        by actor: String
    ) async throws -> FunctionVersion
    /// The package environments some stored version uses: the rest may be collected.
    func environmentsInUse() async throws -> Set<String>
    /// Makes `version` serve, if that very row (same instance) is still stored. Returns whether it serves now.
    func serve(_ version: FunctionVersion, by actor: String) async throws -> Bool
    /// The serving version of every function, by name.
    func servingVersions() async throws -> [FunctionVersion]
    /// The serving version of `name`, if it has one.
    func servingVersion(of name: String) async throws -> FunctionVersion?
    /// Every version of `name`, oldest first.
    func versions(of name: String) async throws -> [FunctionVersion]
    func version(name: String, version: Int) async throws -> FunctionVersion?
    /// Removes every version of `name` and its access. Returns whether it existed.
    func delete(name: String, by actor: String) async throws -> Bool
    /// Whether the store takes changes.
    var isWritable: Bool { get }

    func add(_ key: InvokerKey, by actor: String) async throws
    func invokerKeys() async throws -> [InvokerKey]
    /// Removes the key; returns whether it existed.
    func removeKey(id: String, by actor: String) async throws -> Bool
    /// Sets the access of `name`, if it has a serving version; returns whether it had.
    func setAccess(_ access: FunctionAccess, of name: String, by actor: String) async throws -> Bool
    func accessByName() async throws -> [String: FunctionAccess]
    /// The latest `limit` entries, newest first.
    func audit(limit: Int) async throws -> [AuditEntry]
}

extension FunctionVersion {
    /// Version `number` of `name` as a deploy makes it: the source's digest, a fresh instance, the
    /// time rounded to the millisecond that every store keeps.
    static func next(
        name: String, number: Int, source: String, requirements: Requirements?, settings: FunctionSettings
    ) -> FunctionVersion {
        FunctionVersion(
            name: name, version: number, source: source, sha256: SHA256.hash(data: Data(source.utf8)).hexDigits,
            instance: UUID().uuidString.lowercased(),
            createdAt: Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded() / 1000),
            timeoutSeconds: settings.timeoutSeconds, memoryMiB: settings.memoryMiB,
            concurrency: settings.concurrency, minWarm: settings.minWarm, requirements: requirements)
    }
}

extension Sequence<UInt8> {
    /// Lower-case hex, two digits a byte, as the stores keep digests.
    var hexDigits: String { map { String(format: "%02x", $0) }.joined() }
}

extension String {
    /// The bytes of lower-case or upper-case hex; pairs that are not hex are skipped.
    var hexBytes: [UInt8] {
        let digits = Array(utf8)
        return stride(from: 0, to: digits.count - 1, by: 2).compactMap { offset in
            UInt8(String(decoding: digits[offset...offset + 1], as: UTF8.self), radix: 16)
        }
    }
}
