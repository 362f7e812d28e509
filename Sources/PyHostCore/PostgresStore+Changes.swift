import Foundation
import Logging
import NIOPosix
import PostgresNIO

/// The change feed of the shared store, and the cluster-wide record of recent invocations.
extension PostgresStore {
    /// Listens on `PostgresSchema.channel` over a connection of its own (not the pool's, so an
    /// outage is seen at once and the next attempt is the caller's to time), calls `onListening`
    /// once the listen is in place, then `onChange` with each payload in order. Returns or
    /// throws when the connection ends.
    func followChanges(
        onListening: @Sendable () async -> Void, onChange: @Sendable (String) async -> Void
    ) async throws {
        var options = PostgresConnection.Configuration.Options()
        options.connectTimeout = .init(Self.deadline)
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.username, password: location.password,
            database: location.database, tls: .disable)
        configuration.options = options
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        do {
            try await connection.listen(on: PostgresSchema.channel) { notifications in
                await onListening()
                for try await notification in notifications {
                    await onChange(notification.payload)
                }
            }
        } catch {
            try? await connection.close()
            throw error
        }
        try? await connection.close()
    }

    /// Appends `records` and keeps the newest `limit` of each function they name. Records of a
    /// version no longer stored (its function deleted while they were queued here or in flight,
    /// and perhaps deployed again since under the same version number) are not kept.
    func append(_ records: [(name: String, record: InvocationRecord)], keeping limit: Int) async throws {
        let names = Set(records.map(\.name)).sorted()
        try await transaction { connection in
            for (name, record) in records {
                // TEXT holds no NUL: one a handler printed would fail the whole batch. The version's
                // row is locked against a delete until this batch commits (deploys and rollbacks
                // are not held up): a delete then waits, and removes this batch's rows with the rest.
                let logs = record.logs.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}")
                try await connection.query(
                    """
                    INSERT INTO invocations (name, invocation_id, node, version, instance, started_at, milliseconds, status, logs)
                    SELECT \(name), \(record.id), \(record.node), \(record.version), \(record.instance), \(record.startedAt),
                    \(record.milliseconds), \(record.status), \(logs)
                    WHERE EXISTS (
                        SELECT 1 FROM function_versions WHERE name = \(name) AND version = \(record.version)
                        AND instance = \(record.instance) FOR KEY SHARE)
                    """, logger: self.logger)
            }
            for name in names {
                try await connection.query(
                    """
                    DELETE FROM invocations WHERE name = \(name) AND id <= (
                        SELECT id FROM invocations WHERE name = \(name) ORDER BY id DESC OFFSET \(limit) LIMIT 1)
                    """, logger: self.logger)
            }
        }
    }

    /// The newest `limit` invocations of `name` on every node, newest first.
    func recentInvocations(of name: String, limit: Int) async throws -> [InvocationRecord] {
        try await withDeadline {
            let rows = try await self.client.query(
                """
                SELECT invocation_id, node, version, instance, started_at, milliseconds, status, logs FROM invocations
                WHERE name = \(name) ORDER BY id DESC LIMIT \(limit)
                """, logger: self.logger)
            var records: [InvocationRecord] = []
            for try await (id, node, version, instance, startedAt, milliseconds, status, logs) in rows.decode(
                (String, String, Int, String, Date, Double, Int, String).self)
            {
                records.append(
                    InvocationRecord(
                        id: id, node: node, version: version, instance: instance, startedAt: startedAt, milliseconds: milliseconds,
                        status: status, logs: logs))
            }
            return records
        }
    }

}
