import Crypto
import Foundation
import GRDB

/// One immutable upload of a function.
public struct FunctionVersion: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "function_versions"

    public let name: String
    public let version: Int
    public let source: String
    public let sha256: String
    public let createdAt: Date
    /// The invocation deadline set at deploy; nil means the server's default.
    public let timeoutSeconds: Double?
}

/// The durable store of functions and their versions: SQLite in WAL mode with full sync, so a
/// version is on disk before its deploy is acknowledged.
public final class FunctionRegistry: Sendable {
    private let database: DatabasePool

    /// Opens (or creates) the store in `directory`.
    /// - Throws: `RegistryError.unreadable` when the file exists but is not a usable store.
    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("pyhost.sqlite").path
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
            try database.read { db in
                let check = try String.fetchOne(db, sql: "PRAGMA quick_check")
                guard check == "ok" else { throw RegistryError.unreadable(path: path, reason: check ?? "quick_check failed") }
                // The table has the columns this version reads.
                _ = try FunctionVersion.fetchOne(db, sql: "SELECT name, version, source, sha256, createdAt, timeoutSeconds FROM function_versions LIMIT 1")
            }
        } catch let error as RegistryError {
            throw error
        } catch {
            throw RegistryError.unreadable(path: path, reason: "\(error)")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: FunctionVersion.databaseTableName) { table in
                table.column("name", .text).notNull()
                table.column("version", .integer).notNull()
                table.column("source", .text).notNull()
                table.column("sha256", .text).notNull()
                table.column("createdAt", .datetime).notNull()
                table.primaryKey(["name", "version"])
            }
        }
        migrator.registerMigration("v2: per-version timeout") { db in
            try db.alter(table: FunctionVersion.databaseTableName) { table in
                table.add(column: "timeoutSeconds", .double)
            }
        }
        return migrator
    }

    /// Stores `source` as the next version of `name`, durably, and returns it.
    public func addVersion(name: String, source: String, timeoutSeconds: Double? = nil) async throws -> FunctionVersion {
        let digest = SHA256.hash(data: Data(source.utf8)).map { String(format: "%02x", $0) }.joined()
        return try await database.write { db in
            let latest = try Int.fetchOne(db, sql: "SELECT MAX(version) FROM function_versions WHERE name = ?", arguments: [name])
            let version = FunctionVersion(
                name: name, version: (latest ?? 0) + 1, source: source, sha256: digest,
                createdAt: Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded() / 1000),
                timeoutSeconds: timeoutSeconds)
            try version.insert(db)
            return version
        }
    }

    /// The newest version of every function.
    public func latestVersions() async throws -> [FunctionVersion] {
        try await database.read { db in
            try FunctionVersion.fetchAll(db, sql: """
                SELECT v.* FROM function_versions v
                JOIN (SELECT name, MAX(version) AS version FROM function_versions GROUP BY name) latest
                  ON v.name = latest.name AND v.version = latest.version
                ORDER BY v.name
                """)
        }
    }

    /// Removes every version of `name`. Returns whether it existed.
    public func delete(name: String) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM function_versions WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }
}

public enum RegistryError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "the function store \(path) cannot be used: \(reason). Move it aside to start empty, or restore it from a backup."
        }
    }
}
