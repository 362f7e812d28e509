import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The function store shared by every node of a cluster, in PostgreSQL through PostgresNIO's
/// `PostgresClient`. Each change is one transaction that ends with a `NOTIFY` on
/// `PostgresSchema.channel`, delivered to every node once it commits (see `StoreFollower`).
final class PostgresStore: FunctionStore {
    let location: PostgresLocation
    let logger: Logger
    /// The pool every operation leases from, and the task running it. The pool is started here
    /// because the host reads the store before the application's service group runs; `close`
    /// cancels and awaits it, so no pool outlives the store.
    private let pool: Mutex<(client: PostgresClient, running: Task<Void, Never>)>
    /// Pools `renewPool` replaced, cancelled and awaited by `close`: a lease stuck in one must not
    /// hold the node's listener.
    private let retired = Mutex<[Task<Void, Never>]>([])

    /// How long one operation may wait for the database before it fails as `storeUnavailable`:
    /// a deploy during an outage answers 503 quickly instead of hanging.
    static let deadline: Duration = .seconds(3)

    /// Connects, creates or migrates the schema.
    /// - Throws: `RegistryError.unreachable` when the database cannot be reached or migrated.
    static func open(_ location: PostgresLocation, logger: Logger) async throws -> PostgresStore {
        let store = PostgresStore(location: location, logger: logger)
        do {
            try await store.migrate()
        } catch {
            await store.close()
            guard case .storeUnavailable(let reason) = error as? HostError else { throw error }
            throw RegistryError.unreachable(reason: reason)
        }
        return store
    }

    private init(location: PostgresLocation, logger: Logger) {
        self.location = location
        self.logger = logger
        pool = Mutex(Self.startPool(location, logger: logger))
    }

    private static func startPool(_ location: PostgresLocation, logger: Logger) -> (PostgresClient, Task<Void, Never>) {
        var options = PostgresClient.Configuration.Options()
        options.connectTimeout = deadline
        options.maximumConnections = 8
        let client = PostgresClient(configuration: configuration(location, options: options), backgroundLogger: logger)
        return (client, Task { await client.run() })
    }

    var client: PostgresClient { pool.withLock { $0.client } }

    /// Replaces the pool with a fresh one, once the database answers again after an outage: the
    /// old pool waits out a backoff that grows to a minute between attempts, the new one connects now.
    func renewPool() {
        let old = pool.withLock { pool in
            let old = pool
            pool = Self.startPool(location, logger: logger)
            return old
        }
        old.running.cancel()
        retired.withLock { $0.append(old.running) }
    }

    /// Ends the pool, and waits for it and for every pool `renewPool` replaced.
    func close() async {
        let running = pool.withLock { $0.running }
        running.cancel()
        await running.value
        for old in retired.withLock({ $0 }) { await old.value }
    }

    static func configuration(_ location: PostgresLocation, options: PostgresClient.Configuration.Options = .init())
        -> PostgresClient.Configuration
    {
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.username, password: location.password,
            database: location.database, tls: .disable)
        configuration.options = options
        return configuration
    }

    private func migrate() async throws {
        try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))", logger: self.logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """, logger: self.logger)
            let rows = try await connection.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", logger: self.logger)
            var applied = 0
            for try await (version) in rows.decode(Int.self) { applied = version }
            guard applied <= PostgresSchema.migrations.count else {
                throw HostError.storeUnavailable(
                    "the store's schema is at version \(applied), newer than this pyhost knows (\(PostgresSchema.migrations.count)): upgrade pyhost"
                )
            }
            for (index, migration) in PostgresSchema.migrations.enumerated().dropFirst(applied) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, description) VALUES (\(index + 1), \(migration.description))",
                    logger: self.logger)
            }
        }
    }

    var isWritable: Bool { true }

    func addVersion(
        name: String, source: String, requirements: Requirements?, settings: FunctionSettings, access: FunctionAccess?,
        by actor: String
    ) async throws -> FunctionVersion {
        try await transaction { connection in
            // Deploys of one function on any node queue here until the one ahead commits, so each
            // reads the number the previous one took: two racing deploys make two versions.
            try await Self.lock(name, on: connection, logger: self.logger)
            if let access {
                try await Self.storePrivacy(access, of: name, on: connection, logger: self.logger)
                try await Self.record(.access(access, of: name, by: actor), on: connection, logger: self.logger)
            }
            let rows = try await connection.query(
                "SELECT COALESCE(MAX(version), 0) FROM function_versions WHERE name = \(name)", logger: self.logger)
            var latest = 0
            for try await (number) in rows.decode(Int.self) { latest = number }
            let version = FunctionVersion.next(
                name: name, number: latest + 1, source: source, requirements: requirements, settings: settings)
            try await connection.query(version.postgresInsert, logger: self.logger)
            try await Self.serve(version.version, of: name, on: connection, logger: self.logger)
            try await Self.record(.deploy(version, by: actor), on: connection, logger: self.logger)
            try await Self.announce(name, on: connection, logger: self.logger)
            return version
        }
    }

    func serve(_ version: FunctionVersion, by actor: String) async throws -> Bool {
        try await transaction { connection in
            try await Self.lock(version.name, on: connection, logger: self.logger)
            let rows = try await connection.query(
                """
                SELECT 1 FROM function_versions WHERE name = \(version.name) AND version = \(version.version)
                AND instance = \(version.instance)
                """, logger: self.logger)
            var found = false
            for try await _ in rows { found = true }
            guard found else { return false }
            try await Self.serve(version.version, of: version.name, on: connection, logger: self.logger)
            try await Self.record(.rollback(version, by: actor), on: connection, logger: self.logger)
            try await Self.announce(version.name, on: connection, logger: self.logger)
            return true
        }
    }

    func servingVersions() async throws -> [FunctionVersion] {
        try await versions(
            """
            SELECT \(unescaped: Self.qualifiedColumns) FROM function_versions v
            JOIN serving s ON v.name = s.name AND v.version = s.version ORDER BY v.name
            """)
    }

    func servingVersion(of name: String) async throws -> FunctionVersion? {
        try await versions(
            """
            SELECT \(unescaped: Self.qualifiedColumns) FROM function_versions v
            JOIN serving s ON v.name = s.name AND v.version = s.version WHERE v.name = \(name)
            """
        ).first
    }

    func versions(of name: String) async throws -> [FunctionVersion] {
        try await versions(
            "SELECT \(unescaped: FunctionVersion.postgresColumns) FROM function_versions WHERE name = \(name) ORDER BY version")
    }

    func version(name: String, version: Int) async throws -> FunctionVersion? {
        try await versions(
            """
            SELECT \(unescaped: FunctionVersion.postgresColumns) FROM function_versions
            WHERE name = \(name) AND version = \(version)
            """
        ).first
    }

    func environmentsInUse() async throws -> Set<String> {
        try await withDeadline {
            var found: Set<String> = []
            let rows = try await self.client.query(
                "SELECT DISTINCT requirements FROM function_versions WHERE requirements IS NOT NULL", logger: self.logger)
            for try await stored in rows.decode(String.self) {
                if let environment = try? JSONDecoder().decode(Requirements.self, from: Data(stored.utf8)).environment {
                    found.insert(environment)
                }
            }
            return found
        }
    }

    func delete(name: String, by actor: String) async throws -> Bool {
        try await transaction { connection in
            try await Self.lock(name, on: connection, logger: self.logger)
            let rows = try await connection.query(
                "DELETE FROM function_versions WHERE name = \(name) RETURNING version", logger: self.logger)
            var deleted = 0
            for try await _ in rows { deleted += 1 }
            guard deleted > 0 else { return false }
            try await connection.query("DELETE FROM function_access WHERE name = \(name)", logger: self.logger)
            try await connection.query("DELETE FROM invocations WHERE name = \(name)", logger: self.logger)
            try await Self.record(.delete(name, by: actor), on: connection, logger: self.logger)
            try await Self.announce(name, on: connection, logger: self.logger)
            return true
        }
    }

    private static let qualifiedColumns = FunctionVersion.postgresColumns.split(separator: ", ").map { "v.\($0)" }
        .joined(separator: ", ")

    private func versions(_ query: PostgresQuery) async throws -> [FunctionVersion] {
        try await withDeadline {
            var found: [FunctionVersion] = []
            for try await row in try await self.client.query(query, logger: self.logger) {
                found.append(try FunctionVersion(postgresRow: row))
            }
            return found
        }
    }

    private static func serve(_ version: Int, of name: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            INSERT INTO serving (name, version) VALUES (\(name), \(version))
            ON CONFLICT (name) DO UPDATE SET version = excluded.version
            """, logger: logger)
    }

    /// Takes `name`'s lock until the transaction ends: changes of one function (deploys, rollbacks,
    /// access, deletes) on any node queue here, each seeing what the one ahead committed.
    static func lock(_ name: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(name)))", logger: logger)
    }

    /// Tells every node, once the transaction commits, that `name` changed ("" for the keys).
    static func announce(_ name: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_notify(\(PostgresSchema.channel), \(name))", logger: logger)
    }

    /// Runs `body` in one transaction, within `deadline`.
    func transaction<Result: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        try await withDeadline {
            try await self.client.withTransaction(logger: self.logger) { connection in try await body(connection) }
        }
    }

    /// Runs `operation`, or fails with `storeUnavailable` once `deadline` passed; a database
    /// failure becomes `storeUnavailable` too, in words without SQL.
    ///
    /// Not a task group: a group waits for its children, and a driver call that ignores
    /// cancellation would then hold the caller, and the locks it holds, for ever. The operation is
    /// cancelled at the deadline and left to end on its own; a change that commits after its caller
    /// gave up is followed like any other node's (`StoreFollower`).
    func withDeadline<Result: Sendable>(_ operation: @escaping @Sendable () async throws -> Result) async throws -> Result {
        let first = FirstOutcome<Result>()
        let work = Task {
            do {
                first.offer(.success(try await operation()))
            } catch {
                first.offer(.failure(error))
            }
        }
        let timer = Task {
            try await Task.sleep(for: Self.deadline)
            first.offer(
                .failure(
                    HostError.storeUnavailable("the function store (\(location)) did not answer within \(Self.deadline); retry shortly")))
        }
        defer {
            work.cancel()
            timer.cancel()
        }
        do {
            return try await withTaskCancellationHandler {
                try await first.value
            } onCancel: {
                first.offer(.failure(CancellationError()))
            }
        } catch let error as HostError {
            throw error
        } catch {
            // A transaction wraps what its body threw.
            if let thrown = (error as? PostgresTransactionError)?.closureError as? HostError { throw thrown }
            throw HostError.storeUnavailable("the function store (\(location)) failed: \(Self.reason(error)); retry shortly")
        }
    }

    /// What went wrong, in words: the server's message, or the kind of client error (never the query).
    static func reason(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            return error.code == .connectionError ? "cannot connect" : "\(error.code)"
        }
        if let error = error as? PostgresTransactionError,
            let cause = error.beginError ?? error.closureError ?? error.commitError
        {
            return reason(cause)
        }
        if error is CancellationError { return "cancelled" }
        return "\(type(of: error))"
    }
}
