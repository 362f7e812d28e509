import Foundation
import GRDB
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The durable store of functions, their versions and which version serves: SQLite in WAL mode
/// with full sync, so a change is on disk before it is acknowledged.
///
/// Every operation throws its SQLite failures as `HostError.storeUnavailable`, `.storeFull` or
/// `.storeReadOnly`, never with SQL in the text.
public final class FunctionRegistry: FunctionStore {
    private let database: DatabasePool
    private let writable: Mutex<Bool>

    /// How long an operation waits for another process's lock on the store before it fails.
    static let busyTimeout: TimeInterval = 5

    /// Opens (or creates) the store in `directory`. On a read-only file system or file it opens
    /// the store read-only: functions are served, changes are refused with `.storeReadOnly`.
    /// - Throws: `RegistryError.unreadable` when the file exists but is not a usable store.
    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("pyhost.sqlite").path
        // access(2) answers EROFS for a read-only mount even to root, whom permissions never stop.
        let readOnly =
            access(directory.path, W_OK) != 0 || (FileManager.default.fileExists(atPath: path) && access(path, W_OK) != 0)
        writable = Mutex(!readOnly)
        var configuration = Configuration()
        configuration.busyMode = .timeout(Self.busyTimeout)
        configuration.readonly = readOnly
        if !readOnly {
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
        }
        do {
            // Without write access SQLite cannot create the WAL's shared-memory file: `immutable`
            // tells it no one else writes either, which a read-only mount guarantees.
            let location = readOnly ? URL(fileURLWithPath: path).absoluteString + "?immutable=1" : path
            database = try DatabasePool(path: location, configuration: configuration)
            if !readOnly { try Self.migrator.migrate(database) }
            try database.read { db in
                let check = try String.fetchOne(db, sql: "PRAGMA quick_check")
                guard check == "ok" else { throw RegistryError.unreadable(path: path, reason: check ?? "quick_check failed") }
                // The tables have the columns this version reads.
                // Compiling the statements checks the columns, whether or not a row exists.
                _ = try Row.fetchOne(
                    db,
                    sql: "SELECT name, version, source, sha256, instance, createdAt, timeoutSeconds, memoryMiB, concurrency, minWarm, "
                        + "requirements "
                        + "FROM function_versions LIMIT 1")
                _ = try Row.fetchOne(db, sql: "SELECT name, version FROM serving LIMIT 1")
            }
        } catch let error as RegistryError {
            throw error
        } catch let error as DatabaseError where [.SQLITE_BUSY, .SQLITE_LOCKED].contains(error.resultCode) {
            throw RegistryError.locked(path: path, seconds: Int(Self.busyTimeout))
        } catch let error as DatabaseError {
            throw RegistryError.unreadable(path: path, reason: error.message ?? "SQLite error \(error.resultCode.rawValue)")
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
        migrator.registerMigration("v3: settings and the serving version") { db in
            try db.alter(table: FunctionVersion.databaseTableName) { table in
                table.add(column: "memoryMiB", .integer)
                table.add(column: "concurrency", .integer)
                table.add(column: "minWarm", .integer).notNull().defaults(to: 0)
            }
            try db.create(table: "serving") { table in
                table.primaryKey("name", .text)
                table.column("version", .integer).notNull()
            }
            try db.execute(sql: "INSERT INTO serving SELECT name, MAX(version) FROM function_versions GROUP BY name")
        }
        migrator.registerMigration("v4: an identity per version that a later deploy never reuses") { db in
            try db.alter(table: FunctionVersion.databaseTableName) { table in
                table.add(column: "instance", .text).notNull().defaults(to: "")
            }
            try db.execute(sql: "UPDATE function_versions SET instance = lower(hex(randomblob(16)))")
        }
        migrator.registerMigration("v5: invoker keys, each function's callers, the audit trail") { db in
            try db.create(table: "invoker_keys") { table in
                table.primaryKey("id", .text)
                table.column("digest", .text).notNull()
                table.column("functions", .text)
                table.column("ratePerSecond", .double)
                table.column("createdAt", .datetime).notNull()
            }
            try db.create(table: "function_access") { table in
                table.primaryKey("name", .text)
                table.column("private", .boolean).notNull()
                table.column("ratePerSecond", .double)
            }
            try db.create(table: "audit") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("at", .datetime).notNull()
                table.column("actor", .text).notNull()
                table.column("action", .text).notNull()
                table.column("target", .text).notNull()
                table.column("detail", .text).notNull()
            }
        }
        migrator.registerMigration("v6: the web origins that may call a function") { db in
            try db.alter(table: "function_access") { table in
                table.add(column: "allowedOrigins", .text).notNull().defaults(to: "[]")
            }
        }
        migrator.registerMigration("v7: the resolved packages of a version's # /// script block") { db in
            try db.alter(table: FunctionVersion.databaseTableName) { table in
                table.add(column: "requirements", .text)
            }
        }
        return migrator
    }

    /// Stores `source` as the next version of `name`, makes it the serving one, durably.
    public func addVersion(
        name: String, source: String, requirements: Requirements? = nil, settings: FunctionSettings = FunctionSettings(),
        access: FunctionAccess? = nil, by actor: String
    ) async throws -> FunctionVersion {
        try await write { db in
            if let access {
                try Self.store(access, of: name, in: db)
                try Self.record(.access(access, of: name, by: actor), in: db)
            }
            let latest = try Int.fetchOne(db, sql: "SELECT MAX(version) FROM function_versions WHERE name = ?", arguments: [name])
            let version = FunctionVersion.next(
                name: name, number: (latest ?? 0) + 1, source: source, requirements: requirements, settings: settings)
            try version.insert(db)
            try Self.serve(version.version, of: name, in: db)
            try Self.record(.deploy(version, by: actor), in: db)
            return version
        }
    }

    /// Makes `key` the serving version, if it is still stored: a version deleted with its function
    /// and a later one with the same number are different keys. Returns whether it serves now.
    public func serve(_ version: FunctionVersion, by actor: String) async throws -> Bool {
        try await write { db in
            guard try Self.version(name: version.name, version: version.version, in: db)?.instance == version.instance else {
                return false
            }
            try Self.serve(version.version, of: version.name, in: db)
            try Self.record(.rollback(version, by: actor), in: db)
            return true
        }
    }

    public func servingVersion(of name: String) async throws -> FunctionVersion? {
        try await read { db in
            try FunctionVersion.fetchOne(
                db,
                sql: "SELECT v.* FROM function_versions v JOIN serving s ON v.name = s.name AND v.version = s.version WHERE v.name = ?",
                arguments: [name])
        }
    }

    /// The serving version of every function.
    public func servingVersions() async throws -> [FunctionVersion] {
        try await read { db in
            try FunctionVersion.fetchAll(
                db,
                sql: """
                    SELECT v.* FROM function_versions v JOIN serving s ON v.name = s.name AND v.version = s.version
                    ORDER BY v.name
                    """)
        }
    }

    /// Every version of `name`, oldest first.
    public func versions(of name: String) async throws -> [FunctionVersion] {
        try await read { db in
            try FunctionVersion.fetchAll(db, sql: "SELECT * FROM function_versions WHERE name = ? ORDER BY version", arguments: [name])
        }
    }

    public func version(name: String, version: Int) async throws -> FunctionVersion? {
        try await read { db in try Self.version(name: name, version: version, in: db) }
    }

    /// The environments some stored version uses: the rest may be collected.
    public func environmentsInUse() async throws -> Set<String> {
        try await read { db in
            let stored = try String.fetchAll(db, sql: "SELECT DISTINCT requirements FROM function_versions WHERE requirements IS NOT NULL")
            return Set(stored.compactMap { try? JSONDecoder().decode(Requirements.self, from: Data($0.utf8)).environment })
        }
    }

    /// Removes every version of `name`. Returns whether it existed.
    public func delete(name: String, by actor: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM serving WHERE name = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM function_versions WHERE name = ?", arguments: [name])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "DELETE FROM function_access WHERE name = ?", arguments: [name])
            try Self.record(.delete(name, by: actor), in: db)
            return true
        }
    }

    /// Whether the store takes changes: false when it was opened read-only or a write found it so.
    public var isWritable: Bool { writable.withLock { $0 } }

    func write<T: Sendable>(_ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        guard isWritable else { throw HostError.storeReadOnly }
        do {
            return try await database.write(updates)
        } catch let error as DatabaseError {
            throw typed(error)
        }
    }

    func read<T: Sendable>(_ value: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await database.read(value)
        } catch let error as DatabaseError {
            throw typed(error)
        }
    }

    /// The host error for an SQLite failure, in words without SQL.
    private func typed(_ error: DatabaseError) -> HostError {
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return .storeUnavailable(
                "the function store stayed locked by another process for \(Int(Self.busyTimeout)) s; retry shortly")
        case .SQLITE_FULL:
            return .storeFull
        case .SQLITE_READONLY:
            writable.withLock { $0 = false }
            return .storeReadOnly
        default:
            return .storeUnavailable("the function store failed: \(error.message ?? "SQLite error \(error.resultCode.rawValue)")")
        }
    }

    private static func version(name: String, version: Int, in db: Database) throws -> FunctionVersion? {
        try FunctionVersion.fetchOne(db, sql: "SELECT * FROM function_versions WHERE name = ? AND version = ?", arguments: [name, version])
    }

    private static func serve(_ version: Int, of name: String, in db: Database) throws {
        try db.execute(
            sql: "INSERT INTO serving (name, version) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET version = excluded.version",
            arguments: [name, version])
    }
}

public enum RegistryError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    /// Another process held the store's lock for longer than the busy timeout.
    case locked(path: String, seconds: Int)
    /// A shared store (PostgreSQL) that cannot be reached or migrated at start; `reason` names it.
    case unreachable(reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "the function store \(path) cannot be used: \(reason). Move it aside to start empty, or restore it from a backup."
        case .locked(let path, let seconds):
            return "the function store \(path) stayed locked by another process for \(seconds) s "
                + "(another pyhost on the same --data-dir?). Stop it and start again."
        case .unreachable(let reason):
            return "\(reason). Check --store or PYHOST_STORE, PGPASSWORD, and that PostgreSQL runs."
        }
    }
}
