import Foundation
import PostgresNIO

/// How a version is a row of `function_versions` in PostgreSQL: its columns, read and written here only.
extension FunctionVersion {
    static let postgresColumns =
        "name, version, source, sha256, instance, created_at, timeout_seconds, memory_mib, concurrency, min_warm, requirements"

    init(postgresRow row: PostgresRow) throws {
        let cells = row.makeRandomAccess()
        self.init(
            name: try cells["name"].decode(String.self), version: try cells["version"].decode(Int.self),
            source: try cells["source"].decode(String.self), sha256: try cells["sha256"].decode(String.self),
            instance: try cells["instance"].decode(String.self), createdAt: try cells["created_at"].decode(Date.self),
            timeoutSeconds: try cells["timeout_seconds"].decode(Double?.self), memoryMiB: try cells["memory_mib"].decode(Int?.self),
            concurrency: try cells["concurrency"].decode(Int?.self), minWarm: try cells["min_warm"].decode(Int.self),
            requirements: try cells["requirements"].decode(String?.self).map {
                try JSONDecoder().decode(Requirements.self, from: Data($0.utf8))
            })
    }

    /// Inserts this version; the primary key (name, version) refuses a number taken meanwhile.
    var postgresInsert: PostgresQuery {
        """
        INSERT INTO function_versions (\(unescaped: Self.postgresColumns))
        VALUES (\(name), \(version), \(source), \(sha256), \(instance), \(createdAt), \(timeoutSeconds), \(memoryMiB),
        \(concurrency), \(minWarm), \(requirementsJSON))
        """
    }

    /// The requirements as the column keeps them: JSON text, or NULL.
    private var requirementsJSON: String? {
        requirements.flatMap { try? JSONEncoder().encode($0) }.map { String(decoding: $0, as: UTF8.self) }
    }
}
