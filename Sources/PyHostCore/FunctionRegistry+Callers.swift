import Foundation
import GRDB

/// Invoker keys, each function's access, and the audit trail, in the same store as the functions.
extension FunctionRegistry {
    func add(_ key: InvokerKey) async throws {
        let functions = try key.functions.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try await write { db in
            try db.execute(
                sql: "INSERT INTO invoker_keys (id, digest, functions, ratePerSecond, createdAt) VALUES (?, ?, ?, ?, ?)",
                arguments: [key.id, key.digest.map { String(format: "%02x", $0) }.joined(), functions, key.ratePerSecond, key.createdAt])
        }
    }

    func invokerKeys() async throws -> [InvokerKey] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM invoker_keys ORDER BY createdAt, id").map { row in
                let hex: String = row["digest"]
                let functions = (row["functions"] as String?).flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
                return InvokerKey(
                    id: row["id"],
                    digest: stride(from: 0, to: hex.count, by: 2).compactMap { offset in
                        let start = hex.index(hex.startIndex, offsetBy: offset)
                        return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)
                    }, functions: functions, ratePerSecond: row["ratePerSecond"], createdAt: row["createdAt"])
            }
        }
    }

    /// Removes the key; returns whether it existed.
    func removeKey(id: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM invoker_keys WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    func setAccess(_ access: FunctionAccess, of name: String) async throws {
        try await write { db in try Self.store(access, of: name, in: db) }
    }

    static func store(_ access: FunctionAccess, of name: String, in db: Database) throws {
        let origins = String(decoding: try JSONEncoder().encode(access.allowedOrigins), as: UTF8.self)
        try db.execute(
            sql: """
                INSERT INTO function_access (name, private, ratePerSecond, allowedOrigins) VALUES (?, ?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET private = excluded.private, ratePerSecond = excluded.ratePerSecond,
                allowedOrigins = excluded.allowedOrigins
                """,
            arguments: [name, access.isPrivate, access.ratePerSecond, origins])
    }

    func accessByName() async throws -> [String: FunctionAccess] {
        try await read { db in
            var found: [String: FunctionAccess] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM function_access") {
                let origins = (try? JSONDecoder().decode([String].self, from: Data((row["allowedOrigins"] as String).utf8))) ?? []
                found[row["name"]] = FunctionAccess(isPrivate: row["private"], ratePerSecond: row["ratePerSecond"], allowedOrigins: origins)
            }
            return found
        }
    }

    func record(_ entry: AuditEntry) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                arguments: [entry.at, entry.actor, entry.action, entry.target, entry.detail])
        }
    }

    /// The latest `limit` entries, newest first.
    func audit(limit: Int) async throws -> [AuditEntry] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY id DESC LIMIT ?", arguments: [limit]).map { row in
                AuditEntry(actor: row["actor"], action: row["action"], target: row["target"], detail: row["detail"], at: row["at"])
            }
        }
    }
}
