import Foundation
import PostgresNIO
import Testing

@testable import PyHostCore

/// The store's behaviour, the same on both back ends: SQLite (one node) and PostgreSQL (shared).
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    /// PostgreSQL's cases run where it is installed; `postgresIsInstalled` says when it is not.
    static var available: [Backend] { TestPostgres.isInstalled ? allCases : [.sqlite] }

    var testDescription: String { rawValue }

    /// `count` stores over one new database, as `count` nodes open it; closed after `body`.
    func withStores(_ count: Int = 1, _ body: ([any FunctionStore]) async throws -> Void) async throws {
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pyhost-store-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            try await body(try (0..<count).map { _ in try FunctionRegistry(directory: directory) })
        case .postgres:
            let server = try #require(TestPostgres.current)
            let location = try server.createDatabase()
            var stores: [PostgresStore] = []
            for _ in 0..<count { stores.append(try await PostgresStore.open(location, logger: .init(label: "test"))) }
            do {
                try await body(stores)
            } catch {
                for store in stores { await store.close() }
                throw error
            }
            for store in stores { await store.close() }
        }
    }

    func withStore(_ body: (any FunctionStore) async throws -> Void) async throws {
        try await withStores(1) { try await body($0[0]) }
    }
}

@Suite(.serialized, .postgres, .timeLimit(.minutes(2))) struct FunctionStoreTests {
    @Test(.disabled(if: TestPostgres.isInstalled, "PostgreSQL is installed: its cases run"))
    func postgresIsInstalled() {
        Issue.record(Comment(rawValue: TestPostgres.notInstalled))
    }

    @Test(arguments: Backend.available)
    func deploysNumberVersionsAndTheLatestServes(backend: Backend) async throws {
        try await backend.withStore { store in
            let settings = FunctionSettings(timeoutSeconds: 2.5, memoryMiB: 512, concurrency: 3, minWarm: 1)
            let first = try await store.addVersion(
                name: "f", source: "a = 1", requirements: nil, settings: settings, access: nil, by: "token")
            let second = try await store.add("f", "a = 2")
            _ = try await store.add("g", "b = 1")
            #expect(first.version == 1 && second.version == 2)
            #expect(first.sha256 == SHA256Hex.of("a = 1"))
            #expect(try await store.versions(of: "f").map(Stored.init) == [first, second].map(Stored.init))
            #expect(try await store.version(name: "f", version: 1).map(Stored.init) == Stored(first))
            #expect(try await store.version(name: "f", version: 3) == nil)
            #expect(try await store.servingVersions().map(\.key) == [second.key, try #require(await store.servingVersion(of: "g")).key])
            #expect(try await store.servingVersion(of: "f").map(Stored.init) == Stored(second))
            #expect(try await store.servingVersion(of: "nothing") == nil)
            #expect(store.isWritable)
        }
    }

    /// A version's resolved requirements are stored whole, and name the environments in use.
    @Test(arguments: Backend.available)
    func requirementsAreStoredWithTheVersion(backend: Backend) async throws {
        try await backend.withStore { store in
            let requirements = Requirements(
                declared: ["tabulate==0.9.0"],
                packages: [.init(name: "tabulate", version: "0.9.0", sha256: String(repeating: "ab", count: 32))],
                environment: String(repeating: "cd", count: 32), shadows: [], modules: ["tabulate"])
            let stored = try await store.addVersion(
                name: "f", source: "a = 1", requirements: requirements, settings: .init(), access: nil, by: "token")
            _ = try await store.add("g", "b = 1")
            #expect(try await store.version(name: "f", version: 1)?.requirements == requirements)
            #expect(try await store.version(name: "g", version: 1)?.requirements == nil)
            #expect(Stored(stored) == Stored(try #require(await store.servingVersion(of: "f"))))
            #expect(try await store.environmentsInUse() == [String(repeating: "cd", count: 32)])
        }
    }

    @Test(arguments: Backend.available)
    func aRollbackServesAVersionOnlyWhileThatVersionIsStored(backend: Backend) async throws {
        try await backend.withStore { store in
            let first = try await store.add("f", "a = 1")
            _ = try await store.add("f", "a = 2")
            #expect(try await store.serve(first, by: "token"))
            #expect(try await store.servingVersion(of: "f")?.key == first.key)
            #expect(try await store.delete(name: "f", by: "token"))
            let again = try await store.add("f", "a = 3")
            #expect(again.version == 1 && again.instance != first.instance)
            #expect(try await store.serve(first, by: "token") == false, "the deleted version 1 is not the new version 1")
        }
    }

    @Test(arguments: Backend.available)
    func aDeleteRemovesEveryVersionAndTheAccess(backend: Backend) async throws {
        try await backend.withStore { store in
            let access = FunctionAccess(isPrivate: true, ratePerSecond: 4, allowedOrigins: ["https://a.example"])
            _ = try await store.addVersion(name: "f", source: "a = 1", requirements: nil, settings: .init(), access: access, by: "token")
            #expect(try await store.accessByName() == ["f": access])
            #expect(try await store.delete(name: "f", by: "token"))
            #expect(try await store.versions(of: "f").isEmpty)
            #expect(try await store.servingVersions().isEmpty)
            #expect(try await store.accessByName().isEmpty)
            #expect(try await store.delete(name: "f", by: "token") == false)
        }
    }

    @Test(arguments: Backend.available)
    func accessIsSetOnlyOnAServedFunction(backend: Backend) async throws {
        try await backend.withStore { store in
            let access = FunctionAccess(isPrivate: false, ratePerSecond: nil, allowedOrigins: [])
            #expect(try await store.setAccess(access, of: "f", by: "token") == false)
            _ = try await store.add("f", "a = 1")
            #expect(try await store.setAccess(access, of: "f", by: "token"))
            #expect(try await store.accessByName() == ["f": access])
        }
    }

    @Test(arguments: Backend.available)
    func keysKeepTheirDigestScopeAndRate(backend: Backend) async throws {
        try await backend.withStore { store in
            let (key, secret) = InvokerKey.make(functions: ["f", "g"], ratePerSecond: 2.5)
            let (open, _) = InvokerKey.make(functions: nil, ratePerSecond: nil)
            try await store.add(key, by: "token")
            try await store.add(open, by: "token")
            let stored = try await store.invokerKeys()
            #expect(Set(stored.map(\.id)) == [key.id, open.id])
            let read = try #require(stored.first { $0.id == key.id })
            #expect(read.digest == key.digest && read.accepts(secret))
            #expect(read.functions == ["f", "g"] && read.ratePerSecond == 2.5)
            #expect(stored.first { $0.id == open.id }?.functions == nil)
            #expect(try await store.removeKey(id: key.id, by: "token"))
            #expect(try await store.removeKey(id: key.id, by: "token") == false)
            #expect(try await store.invokerKeys().map(\.id) == [open.id])
        }
    }

    @Test(arguments: Backend.available)
    func everyChangeIsInTheAuditTrailNewestFirst(backend: Backend) async throws {
        try await backend.withStore { store in
            let first = try await store.add("f", "a = 1")
            _ = try await store.add("f", "a = 2", by: "anonymous")
            _ = try await store.serve(first, by: "token")
            _ = try await store.delete(name: "f", by: "token")
            let trail = try await store.audit(limit: 3)
            #expect(trail.map(\.action) == ["delete", "rollback", "deploy"])
            #expect(trail.map(\.actor) == ["token", "token", "anonymous"])
        }
    }

    @Test(arguments: Backend.available)
    func racingDeploysFromTwoNodesMakeDistinctVersions(backend: Backend) async throws {
        try await backend.withStores(2) { nodes in
            let made = try await withThrowingTaskGroup(of: FunctionVersion.self) { group in
                for index in 0..<12 {
                    let node = nodes[index % 2]
                    group.addTask {
                        try await node.add("f", "a = \(index)")
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(made.map(\.version).sorted() == Array(1...12))
            #expect(try await nodes[0].versions(of: "f").map(\.source).sorted() == made.map(\.source).sorted())
            #expect(try await nodes[1].servingVersion(of: "f")?.version == 12)
        }
    }
}

/// What only the shared store does: its schema, its change feed, its invocation records, its outages.
@Suite(
    .serialized, .postgres, .timeLimit(.minutes(2)), .enabled(if: TestPostgres.isInstalled, Comment(rawValue: TestPostgres.notInstalled)))
struct PostgresStoreTests {
    @Test func theSchemaIsMigratedOnceHoweverManyNodesOpenIt() async throws {
        try await Backend.postgres.withStores(3) { nodes in
            let store = try #require(nodes[0] as? PostgresStore)
            var versions: [Int] = []
            for try await (version) in try await store.client.query("SELECT version FROM schema_migrations").decode(Int.self) {
                versions.append(version)
            }
            #expect(versions == Array(1...PostgresSchema.migrations.count))
        }
    }

    @Test func aSchemaNewerThanThisPyhostIsRefused() async throws {
        let location = try #require(TestPostgres.current).createDatabase()
        let first = try await PostgresStore.open(location, logger: .init(label: "test"))
        try await first.client.query("INSERT INTO schema_migrations (version, description) VALUES (99, 'from the future')")
        await first.close()
        await #expect {
            _ = try await PostgresStore.open(location, logger: .init(label: "test"))
        } throws: { error in
            "\(error)".contains(
                "the store's schema is at version 99, newer than this pyhost knows (\(PostgresSchema.migrations.count)): upgrade pyhost")
        }
    }

    @Test func everyChangeIsAnnouncedToTheOtherNodes() async throws {
        try await Backend.postgres.withStores(2) { nodes in
            let follower = try #require(nodes[0] as? PostgresStore)
            let (heard, announce) = AsyncStream.makeStream(of: String.self)
            let (listening, ready) = AsyncStream.makeStream(of: Void.self)
            let following = Task {
                try await follower.followChanges(onListening: { ready.yield() }, onChange: { announce.yield($0) })
            }
            defer { following.cancel() }
            for await _ in listening { break }
            let other = nodes[1]
            let first = try await other.add("f", "a = 1")
            _ = try await other.add("f", "a = 2")
            _ = try await other.serve(first, by: "token")
            _ = try await other.setAccess(FunctionAccess(isPrivate: true), of: "f", by: "token")
            try await other.add(InvokerKey.make(functions: nil, ratePerSecond: nil).key, by: "token")
            _ = try await other.delete(name: "f", by: "token")
            var payloads: [String] = []
            for await payload in heard {
                payloads.append(payload)
                if payloads.count == 6 { break }
            }
            #expect(payloads == ["f", "f", "f", "f", "", "f"])
        }
    }

    @Test func invocationRecordsAreKeptPerFunctionUpToTheLimit() async throws {
        try await Backend.postgres.withStore { store in
            let store = try #require(store as? PostgresStore)
            var instances: [String: String] = [:]
            for name in ["f", "g"] {
                instances[name] = try await store.add(name, "a = 1").instance
            }
            let records = (1...5).map { index in
                let name = index == 5 ? "g" : "f"
                return (name: name, record: Self.record("i\(index)", node: "node-\(index % 2)", instance: instances[name]!))
            }
            // "h" is no stored function (deleted while its records were queued): they are not kept.
            let orphan = (name: "h", record: records[0].record)
            try await store.append(records + [orphan], keeping: 3)
            #expect(try await store.recentInvocations(of: "f", limit: 3).map(\.id) == ["i4", "i3", "i2"])
            let kept = try await store.recentInvocations(of: "g", limit: 3)
            #expect(kept == [records[4].record])
            #expect(try await store.recentInvocations(of: "h", limit: 3).isEmpty)
        }
    }

    @Test func aRecordOfADeletedVersionIsNotKeptUnderTheSameNumberDeployedAgain() async throws {
        try await Backend.postgres.withStore { store in
            let store = try #require(store as? PostgresStore)
            let deleted = try await store.add("f", "a = 1")
            _ = try await store.delete(name: "f", by: "token")
            let again = try await store.add("f", "a = 1")
            #expect(again.version == deleted.version)
            try await store.append(
                [("f", Self.record("late", instance: deleted.instance)), ("f", Self.record("new", instance: again.instance))], keeping: 10)
            #expect(try await store.recentInvocations(of: "f", limit: 10).map(\.id) == ["new"])
        }
    }

    /// A batch written while the function is deleted leaves no record behind, whichever goes first.
    @Test func recordsWrittenDuringADeleteDoNotOutliveIt() async throws {
        try await Backend.postgres.withStore { store in
            let store = try #require(store as? PostgresStore)
            for round in 0..<20 {
                let name = "f\(round)"
                let version = try await store.add(name, "a = 1")
                let batch = (0..<20).map { (name: name, record: Self.record("i\($0)", instance: version.instance)) }
                async let appended: Void = store.append(batch, keeping: 100)
                async let deleted = store.delete(name: name, by: "token")
                _ = try await (appended, deleted)
                #expect(try await store.recentInvocations(of: name, limit: 100).isEmpty, "round \(round)")
            }
        }
    }

    private static func record(_ id: String, node: String = "node", instance: String) -> InvocationRecord {
        InvocationRecord(
            id: id, node: node, version: 1, instance: instance, startedAt: Date(timeIntervalSince1970: 1_000), milliseconds: 1.5,
            status: 200, logs: "printed \(id)")
    }

    @Test func aStoreThatDoesNotAnswerIsUnavailableNotAHang() async throws {
        let nowhere = try PostgresLocation(url: "postgres://postgres@127.0.0.1:1/none")
        let started = ContinuousClock.now
        await #expect {
            _ = try await PostgresStore.open(nowhere, logger: .init(label: "test"))
        } throws: { error in
            "\(error)".hasPrefix("the function store (postgres://postgres@127.0.0.1:1/none) did not answer within")
        }
        #expect(ContinuousClock.now - started < PostgresStore.deadline + .seconds(2))
    }
}

/// A version as compared after a trip through a store, whose time keeps the millisecond but not
/// every bit of the `Double` it was made from.
struct Stored: Equatable {
    let version: FunctionVersion
    init(_ version: FunctionVersion) { self.version = version }

    static func == (lhs: Stored, rhs: Stored) -> Bool {
        let (a, b) = (lhs.version, rhs.version)
        return a.key == b.key && a.source == b.source && a.sha256 == b.sha256 && a.timeoutSeconds == b.timeoutSeconds
            && a.memoryMiB == b.memoryMiB && a.concurrency == b.concurrency && a.minWarm == b.minWarm
            && a.requirements == b.requirements
            && abs(a.createdAt.timeIntervalSince(b.createdAt)) < 0.0005
    }
}

enum SHA256Hex {
    static func of(_ text: String) -> String {
        FunctionVersion.next(name: "x", number: 1, source: text, requirements: nil, settings: .init()).sha256
    }
}

extension FunctionStore {
    /// A version of `name` with `source`, no requirements and the default settings.
    fileprivate func add(_ name: String, _ source: String, by actor: String = "token") async throws -> FunctionVersion {
        try await addVersion(name: name, source: source, requirements: nil, settings: .init(), access: nil, by: actor)
    }
}
