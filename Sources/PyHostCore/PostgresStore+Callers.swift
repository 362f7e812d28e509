import Foundation
import PostgresNIO

/// Invoker keys, each function's access and the audit trail, in the shared store.
extension PostgresStore {
    func add(_ key: InvokerKey, by actor: String) async throws {
        let functions = try key.functions.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try await transaction { connection in
            try await connection.query(
                """
                INSERT INTO invoker_keys (id, digest, functions, rate_per_second, created_at)
                VALUES (\(key.id), \(key.digest.hexDigits), \(functions), \(key.ratePerSecond), \(key.createdAt))
                """, logger: self.logger)
            try await Self.record(.keyCreate(key, by: actor), on: connection, logger: self.logger)
            try await Self.announce("", on: connection, logger: self.logger)
        }
    }

    func invokerKeys() async throws -> [InvokerKey] {
        try await withDeadline {
            let rows = try await self.client.query(
                "SELECT id, digest, functions, rate_per_second, created_at FROM invoker_keys ORDER BY created_at, id",
                logger: self.logger)
            var keys: [InvokerKey] = []
            for try await (id, digest, functions, rate, createdAt) in rows.decode((String, String, String?, Double?, Date).self) {
                keys.append(
                    InvokerKey(
                        id: id, digest: digest.hexBytes,
                        functions: functions.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) },
                        ratePerSecond: rate, createdAt: createdAt))
            }
            return keys
        }
    }

    func removeKey(id: String, by actor: String) async throws -> Bool {
        try await transaction { connection in
            let rows = try await connection.query("DELETE FROM invoker_keys WHERE id = \(id) RETURNING id", logger: self.logger)
            var removed = false
            for try await _ in rows { removed = true }
            guard removed else { return false }
            try await Self.record(.keyRevoke(id, by: actor), on: connection, logger: self.logger)
            try await Self.announce("", on: connection, logger: self.logger)
            return true
        }
    }

    func setAccess(_ access: FunctionAccess, of name: String, by actor: String) async throws -> Bool {
        try await transaction { connection in
            // Under the function's lock, so a delete cannot slip between the check and the write.
            try await Self.lock(name, on: connection, logger: self.logger)
            var serving = false
            for try await _ in try await connection.query("SELECT 1 FROM serving WHERE name = \(name)", logger: self.logger) {
                serving = true
            }
            guard serving else { return false }
            try await Self.store(access, of: name, on: connection, logger: self.logger)
            try await Self.record(.access(access, of: name, by: actor), on: connection, logger: self.logger)
            try await Self.announce(name, on: connection, logger: self.logger)
            return true
        }
    }

    static func store(_ access: FunctionAccess, of name: String, on connection: PostgresConnection, logger: Logger) async throws {
        let origins = String(decoding: try JSONEncoder().encode(access.allowedOrigins), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO function_access (name, private, rate_per_second, allowed_origins)
            VALUES (\(name), \(access.isPrivate), \(access.ratePerSecond), \(origins))
            ON CONFLICT (name) DO UPDATE SET private = excluded.private, rate_per_second = excluded.rate_per_second,
            allowed_origins = excluded.allowed_origins
            """, logger: logger)
    }

    /// Sets only whether `name` is private, as a deploy's `?access=` does: a rate or origins set
    /// meanwhile on another node, which this node may not have seen yet, stay.
    static func storePrivacy(_ access: FunctionAccess, of name: String, on connection: PostgresConnection, logger: Logger)
        async throws
    {
        let origins = String(decoding: try JSONEncoder().encode(access.allowedOrigins), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO function_access (name, private, rate_per_second, allowed_origins)
            VALUES (\(name), \(access.isPrivate), \(access.ratePerSecond), \(origins))
            ON CONFLICT (name) DO UPDATE SET private = excluded.private
            """, logger: logger)
    }

    func accessByName() async throws -> [String: FunctionAccess] {
        try await withDeadline {
            let rows = try await self.client.query(
                "SELECT name, private, rate_per_second, allowed_origins FROM function_access", logger: self.logger)
            var found: [String: FunctionAccess] = [:]
            for try await (name, isPrivate, rate, origins) in rows.decode((String, Bool, Double?, String).self) {
                found[name] = FunctionAccess(
                    isPrivate: isPrivate, ratePerSecond: rate,
                    allowedOrigins: (try? JSONDecoder().decode([String].self, from: Data(origins.utf8))) ?? [])
            }
            return found
        }
    }

    static func record(_ entry: AuditEntry, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            INSERT INTO audit (at, actor, action, target, detail)
            VALUES (\(entry.at), \(entry.actor), \(entry.action), \(entry.target), \(entry.detail))
            """, logger: logger)
    }

    func audit(limit: Int) async throws -> [AuditEntry] {
        try await withDeadline {
            let rows = try await self.client.query(
                "SELECT actor, action, target, detail, at FROM audit ORDER BY id DESC LIMIT \(limit)", logger: self.logger)
            var entries: [AuditEntry] = []
            for try await (actor, action, target, detail, at) in rows.decode((String, String, String, String, Date).self) {
                entries.append(AuditEntry(actor: actor, action: action, target: target, detail: detail, at: at))
            }
            return entries
        }
    }
}
