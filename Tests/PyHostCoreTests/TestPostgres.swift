import Foundation
import Testing

@testable import PyHostCore

/// A throwaway PostgreSQL server from Debian's `postgresql` package: `initdb` into a temporary
/// directory, listening on 127.0.0.1 on a private port (and a socket in that directory only),
/// stopped and removed at the end. As root, it runs as the `postgres` account, as initdb requires.
final class TestPostgres: Sendable {
    static let binaries = "/usr/lib/postgresql/15/bin"
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: binaries + "/initdb") }
    static let notInstalled = "PostgreSQL 15 is not installed (\(binaries)): scripts/test installs Debian's postgresql"

    @TaskLocal static var current: TestPostgres?

    let directory: URL
    let port: Int

    static func start() throws -> TestPostgres {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pyhost-pg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if getuid() == 0 { try run("/bin/chown", "postgres:postgres", directory.path) }
        let server = TestPostgres(directory: directory, port: try freePort())
        try server.asOwner("initdb", "-D", server.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        try server.asOwner(
            "pg_ctl", "-D", server.data, "-l", directory.path + "/server.log", "-w", "-o",
            "-p \(server.port) -k \(directory.path) -c listen_addresses=127.0.0.1", "start")
        return server
    }

    private init(directory: URL, port: Int) {
        self.directory = directory
        self.port = port
    }

    private var data: String { directory.path + "/data" }

    /// A new, empty database, for one test.
    func createDatabase() throws -> PostgresLocation {
        let name = "t" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        try asOwner("createdb", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", name)
        return try PostgresLocation(url: "postgres://postgres@127.0.0.1:\(port)/\(name)")
    }

    func stop() {
        try? asOwner("pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        try? FileManager.default.removeItem(at: directory)
    }

    private func asOwner(_ tool: String, _ arguments: String...) throws {
        let command = Self.binaries + "/" + tool
        if getuid() == 0 {
            try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", command] + arguments)
        } else {
            try Self.run(command, arguments)
        }
    }

    private static func run(_ executable: String, _ arguments: String...) throws {
        try run(executable, arguments)
    }

    /// posix_spawn and waitpid, as Foundation's `Process` here left a child unreaped and its waiter waiting.
    private static func run(_ executable: String, _ arguments: [String]) throws {
        // A file, not a pipe: the server pg_ctl starts would hold a pipe open past pg_ctl's exit.
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("pyhost-pg-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestPostgresError(command: executable, output: String(cString: strerror(spawned))) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else {
            throw TestPostgresError(
                command: ([executable] + arguments).joined(separator: " "),
                output: (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
        }
    }

    private static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

struct TestPostgresError: Error, CustomStringConvertible {
    let command: String
    let output: String
    var description: String { "\(command) failed: \(output)" }
}

/// Starts one PostgreSQL server around a whole suite (`TestPostgres.current` inside it).
struct WithPostgres: SuiteTrait, TestScoping {
    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        guard TestPostgres.isInstalled else { return try await function() }
        let server = try TestPostgres.start()
        defer { server.stop() }
        try await TestPostgres.$current.withValue(server) { try await function() }
    }
}

extension Trait where Self == WithPostgres {
    static var postgres: Self { WithPostgres() }
}
