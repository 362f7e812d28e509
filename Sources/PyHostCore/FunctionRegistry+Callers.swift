import Foundation
import GRDB

/// Invoker keys, each function's access, and the audit trail, in the same store as the functions.
extension FunctionRegistry {
    func add(_ key: InvokerKey, by actor: String) async throws {
        let functions = try key.functions.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try await write { db in
            try db.execute(
                sql: "INSERT INTO invoker_keys (id, digest, functions, ratePerSecond, createdAt) VALUES (?, ?, ?, ?, ?)",
                arguments: [key.id, key.digest.hexDigits, functions, key.ratePerSecond, key.createdAt])
            try Self.record(.keyCreate(key, by: actor), in: db)
        }
    }

    func invokerKeys() async throws -> [InvokerKey] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM invoker_keys ORDER BY createdAt, id").map { row in
                let functions = (row["functions"] as String?).flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
                return InvokerKey(
                    id: row["id"], digest: (row["digest"] as String).hexBytes, functions: functions, ratePerSecond: row["ratePerSecond"],
                    createdAt: row["createdAt"])
            }
        }
    }

    /// Removes the key; returns whether it existed.
    func removeKey(id: String, by actor: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM invoker_keys WHERE id = ?", arguments: [id])
            guard db.changesCount > 0 else { return false }
            try Self.record(.keyRevoke(id, by: actor), in: db)
            return true
        }
    }

    /// Sets the access of `name`, if it still has a serving version; returns whether it had.
    func setAccess(_ access: FunctionAccess, of name: String, by actor: String) async throws -> Bool {
        try await write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM serving WHERE name = ?", arguments: [name]) != nil else { return false }
            try Self.store(access, of: name, in: db)
            try Self.record(.access(access, of: name, by: actor), in: db)
            return true
        }
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

    static func record(_ entry: AuditEntry, in db: Database) throws {
        try db.execute(
            sql: "INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            arguments: [entry.at, entry.actor, entry.action, entry.target, entry.detail])
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
