/// The tables of a shared store, created and migrated by pyhost itself: each migration runs once,
/// in order, in one transaction, and is recorded in `schema_migrations`. Nodes starting together
/// take an advisory lock, so one of them migrates and the others find it done.
enum PostgresSchema {
    /// Migration `n` is `migrations[n - 1]`; append, never edit.
    static let migrations: [(description: String, statements: [String])] = [
        (
            "functions, versions, serving, keys, access, audit, recent invocations",
            [
                """
                CREATE TABLE function_versions (
                    name TEXT NOT NULL, version INTEGER NOT NULL, source TEXT NOT NULL, sha256 TEXT NOT NULL,
                    instance TEXT NOT NULL UNIQUE, created_at TIMESTAMPTZ NOT NULL, timeout_seconds DOUBLE PRECISION,
                    memory_mib INTEGER, concurrency INTEGER, min_warm INTEGER NOT NULL DEFAULT 0, requirements TEXT,
                    PRIMARY KEY (name, version))
                """,
                """
                CREATE TABLE serving (
                    name TEXT PRIMARY KEY, version INTEGER NOT NULL,
                    FOREIGN KEY (name, version) REFERENCES function_versions (name, version) ON DELETE CASCADE)
                """,
                """
                CREATE TABLE invoker_keys (
                    id TEXT PRIMARY KEY, digest TEXT NOT NULL, functions TEXT, rate_per_second DOUBLE PRECISION,
                    created_at TIMESTAMPTZ NOT NULL)
                """,
                """
                CREATE TABLE function_access (
                    name TEXT PRIMARY KEY, private BOOLEAN NOT NULL, rate_per_second DOUBLE PRECISION,
                    allowed_origins TEXT NOT NULL DEFAULT '[]')
                """,
                """
                CREATE TABLE audit (
                    id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
                    target TEXT NOT NULL, detail TEXT NOT NULL)
                """,
                """
                CREATE TABLE invocations (
                    id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, invocation_id TEXT NOT NULL, node TEXT NOT NULL,
                    version INTEGER NOT NULL, started_at TIMESTAMPTZ NOT NULL, milliseconds DOUBLE PRECISION NOT NULL,
                    status INTEGER NOT NULL, logs TEXT NOT NULL)
                """,
                "CREATE INDEX invocations_by_function ON invocations (name, id)",
            ]
        ),
        (
            "the version instance an invocation ran",
            ["ALTER TABLE invocations ADD COLUMN instance TEXT NOT NULL DEFAULT ''"]
        ),
    ]

    /// The channel every change is announced on, with the function's name as payload ("" for keys).
    static let channel = "pyhost_changes"
    /// The advisory lock key migrations run under ("pyhost" in ASCII).
    static let migrationLock: Int64 = 0x70_7968_6f73_74
}
