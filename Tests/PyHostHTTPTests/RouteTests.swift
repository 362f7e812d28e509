import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Prometheus
import Synchronization
import Testing

@testable import PyHostCore
@testable import PyHostHTTP

/// The routes in-process, over a host that keeps functions in memory and answers invocations
/// with what each test sets: what HTTP does with the host's answers, without a zygote.
@Suite struct RouteTests {
    static let token = "s3cret-token"
    static let local: HTTPFields = [:]
    static let authorized: HTTPFields = [.authorization: "Bearer \(token)"]

    func withApp(_ host: FakeHost, _ test: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = try PyHostServer.application(
            host: host, address: "127.0.0.1", port: 0, deployToken: DeployToken(Self.token),
            metrics: PrometheusCollectorRegistry(), logger: Logger(label: "test"))
        try await app.test(.router, test)
    }

    static func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any])
    }

    static func errorType(_ buffer: ByteBuffer) throws -> String? {
        (try json(buffer)["error"] as? [String: Any])?["type"] as? String
    }

    @Test func deployNeedsTheTokenAndPassesSourceAndSettings() async throws {
        let host = FakeHost()
        try await withApp(host) { client in
            do {
                let response = try await client.execute(
                    uri: "/functions/hello", method: .post, headers: Self.local, body: ByteBuffer(string: "x"))
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
            }
            #expect(host.deployed.isEmpty)
            let source = "def handle(request):\n    return 1\n"
            let response = try await client.execute(
                uri: "/functions/hello?timeout=2&concurrency=1", method: .post, headers: Self.authorized, body: ByteBuffer(string: source))
            #expect(response.status == .created)
            #expect(try Self.json(response.body)["version"] as? Int == 1)
            #expect(host.deployed.map(\.source) == [source])
            #expect(host.deployed.first?.settings == FunctionSettings(timeoutSeconds: 2, concurrency: 1))
        }
    }

    @Test(arguments: ["Hello", "a b", "x" + String(repeating: "y", count: 80), "..", "_hidden"])
    func badNamesAreRefusedBeforeTheHost(name: String) async throws {
        let host = FakeHost()
        try await withApp(host) { client in
            let path = name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed)!
            do {
                let response = try await client.execute(
                    uri: "/functions/\(path)", method: .post, headers: Self.authorized, body: ByteBuffer(string: "x"))
                #expect(response.status == .badRequest)
                #expect(try Self.errorType(response.body) == "InvalidName")
            }
            #expect(host.deployed.isEmpty)
        }
    }

    @Test func anOversizedRequestNeverReachesTheHost() async throws {
        let host = FakeHost(functions: ["hello"])
        try await withApp(host) { client in
            let body = ByteBuffer(repeating: UInt8(ascii: "1"), count: host.configuration.maximumRequestBytes + 1)
            do {
                let response = try await client.execute(uri: "/functions/hello/invoke", method: .post, headers: Self.local, body: body)
                #expect(response.status == .contentTooLarge)
                #expect(try Self.errorType(response.body) == "RequestTooLarge")
            }
            #expect(host.invoked.isEmpty)
        }
    }

    @Test(arguments: [
        (InvocationOutcome.returned(ByteBuffer(string: "42")), 200, "42"),
        (
            .raised(ByteBuffer(string: #"{"error":{"type":"ValueError","message":"no"}}"#)), 500,
            #"{"error":{"type":"ValueError","message":"no"}}"#
        ),
        (
            .badRequest(ByteBuffer(string: #"{"error":{"type":"InvalidJSON","message":"no"}}"#)), 400,
            #"{"error":{"type":"InvalidJSON","message":"no"}}"#
        ),
        (
            .responded(
                ByteBuffer(string: "{\"status\":201,\"headers\":[[\"X-Kind\",\"made\"],[\"Content-Type\",\"application/json\"]]}\n{}")),
            201, "{}"
        ),
    ])
    func outcomesAnswerWithTheirStatusAndBody(outcome: InvocationOutcome, status: Int, body: String) async throws {
        let host = FakeHost(functions: ["hello"], outcome: .success(outcome))
        try await withApp(host) { client in
            do {
                let response = try await client.execute(
                    uri: "/functions/hello/invoke", method: .post, headers: Self.local, body: ByteBuffer(string: "{}"))
                #expect(response.status.code == status)
                #expect(String(buffer: response.body) == body)
                #expect(response.headers[.pyhostInvocationID] == "inv-1")
            }
            #expect(host.recentInvocations(of: "hello").map(\.status) == [status])
        }
    }

    /// A host failure is answered by the one error mapping, keeps the invocation's id, and is recorded.
    @Test func aHostFailureKeepsItsInvocationID() async throws {
        let failure = InvocationFailure(
            error: .saturated(retryAfterSeconds: 3), id: "inv-9", version: 1, instance: "i", startedAt: Date(), milliseconds: 1)
        let host = FakeHost(functions: ["hello"], outcome: .failure(failure))
        try await withApp(host) { client in
            do {
                let response = try await client.execute(
                    uri: "/functions/hello/invoke", method: .post, headers: Self.local, body: ByteBuffer(string: "{}"))
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "3")
                #expect(response.headers[.pyhostInvocationID] == "inv-9")
                #expect(try Self.errorType(response.body) == "Saturated")
            }
            #expect(host.recentInvocations(of: "hello").map(\.id) == ["inv-9"])
        }
    }

    /// The handler's context never shows the deploy token, nor the host's own `logs` parameter.
    @Test func theHandlerSeesHeadersAndQueryWithoutTheTokenOrLogs() async throws {
        let host = FakeHost(functions: ["hello"])
        try await withApp(host) { client in
            var headers = Self.authorized
            headers[.init("X-Trace")!] = "a"
            headers.append(.init(name: .init("X-Trace")!, value: "b"))
            do {
                let response = try await client.execute(
                    uri: "/functions/hello/invoke?logs=true&city=Oslo", method: .post, headers: headers, body: ByteBuffer(string: "{}"))
                #expect(response.status == .ok)
                #expect(try Self.json(response.body)["invocation_id"] as? String == "inv-1")
            }
            let request = try #require(host.invoked.first)
            #expect(!request.headers.contains { $0.name == "authorization" })
            #expect(request.headers.first { $0.name == "x-trace" }?.value == "a, b")
            #expect(request.query.map(\.name) == ["city"])
        }
    }

    /// Only a configurator calls a version that no longer serves.
    @Test func anOldVersionNeedsTheToken() async throws {
        let host = FakeHost(functions: ["hello", "hello"])
        try await withApp(host) { client in
            do {
                let response = try await client.execute(
                    uri: "/functions/hello/versions/1/invoke", method: .post, headers: Self.local, body: ByteBuffer(string: "{}"))
                #expect(response.status == .unauthorized)
            }
            do {
                let response = try await client.execute(
                    uri: "/functions/hello/versions/2/invoke", method: .post, headers: Self.local, body: ByteBuffer(string: "{}"))
                #expect(response.status == .ok)
            }
            do {
                let response = try await client.execute(
                    uri: "/functions/hello/versions/1/invoke", method: .post, headers: Self.authorized, body: ByteBuffer(string: "{}"))
                #expect(response.status == .ok)
            }
            #expect(host.invoked.count == 2)
        }
    }

    @Test func unknownFunctionsAndBadVersionsAreTypedClientErrors() async throws {
        let host = FakeHost(functions: ["hello"])
        try await withApp(host) { client in
            do {
                let response = try await client.execute(uri: "/functions/nope", method: .get, headers: Self.authorized)
                #expect(response.status == .notFound)
                #expect(try Self.errorType(response.body) == "FunctionNotFound")
            }
            do {
                let response = try await client.execute(uri: "/functions/hello/versions/0/invoke", method: .post, headers: Self.local)
                #expect(response.status == .badRequest)
                #expect(try Self.errorType(response.body) == "InvalidParameter")
            }
            do {
                let response = try await client.execute(uri: "/functions/hello/rollback?version=x", method: .post, headers: Self.authorized)
                #expect(response.status == .badRequest)
                #expect(try Self.errorType(response.body) == "InvalidParameter")
            }
        }
    }

    @Test func deleteNeedsTheTokenThenRemoves() async throws {
        let host = FakeHost(functions: ["hello"])
        try await withApp(host) { client in
            var statuses: [HTTPResponse.Status] = []
            for headers in [Self.local, Self.authorized, Self.authorized] {
                statuses.append(try await client.execute(uri: "/functions/hello", method: .delete, headers: headers).status)
            }
            #expect(statuses == [.unauthorized, .noContent, .notFound])
        }
    }

    @Test func healthSaysWhenNoWorkerCanStart() async throws {
        let host = FakeHost(zygoteRunning: false)
        try await withApp(host) { client in
            do {
                let response = try await client.execute(uri: "/healthz", method: .get, headers: Self.local)
                #expect(response.status == .serviceUnavailable)
                #expect(try Self.json(response.body)["status"] as? String == "degraded")
            }
        }
    }
}

/// A host with functions in memory; every invocation answers `outcome`.
final class FakeHost: FunctionHostProtocol {
    let configuration = HostConfiguration(
        dataDirectory: URL(fileURLWithPath: "/nonexistent"), runtimeDirectory: "", executable: "", timeout: .seconds(2),
        limits: HostConfiguration.defaultLimits(cpuCount: 2))
    private let outcome: Result<InvocationOutcome, InvocationFailure>
    private let zygoteRunning: Bool
    private let state: Mutex<State>

    struct State {
        var versions: [String: [FunctionVersion]] = [:]
        var deployed: [(source: String, settings: FunctionSettings)] = []
        var invoked: [InvocationRequest] = []
        var records: [String: [InvocationRecord]] = [:]
        var audit: [AuditEntry] = []
    }
    private let policy = CallerPolicy(defaultAccess: FunctionAccess(isPrivate: false))

    /// `functions` deploys each name once per occurrence, in order.
    init(
        functions: [String] = [], outcome: Result<InvocationOutcome, InvocationFailure> = .success(.returned(ByteBuffer(string: "null"))),
        zygoteRunning: Bool = true
    ) {
        self.outcome = outcome
        self.zygoteRunning = zygoteRunning
        var state = State()
        for name in functions { state.versions[name, default: []].append(Self.version(name, state.versions[name]?.count ?? 0)) }
        self.state = Mutex(state)
    }

    static func version(_ name: String, _ count: Int, source: String = "def handle(request):\n    return None\n") -> FunctionVersion {
        FunctionVersion(
            name: name, version: count + 1, source: source, sha256: "", instance: "i\(count)", createdAt: Date(), timeoutSeconds: nil,
            memoryMiB: nil, concurrency: nil, minWarm: 0, requirements: nil)
    }

    var deployed: [(source: String, settings: FunctionSettings)] { state.withLock { $0.deployed } }
    var invoked: [InvocationRequest] { state.withLock { $0.invoked } }

    func functions() -> [FunctionVersion] { state.withLock { $0.versions.values.compactMap(\.last) } }

    func function(named name: String) throws -> FunctionVersion {
        guard let function = state.withLock({ $0.versions[name]?.last }) else { throw HostError.functionNotFound(name) }
        return function
    }

    private func audit(_ action: String, _ target: String, by actor: String) {
        state.withLock { $0.audit.insert(AuditEntry(actor: actor, action: action, target: target, detail: ""), at: 0) }
    }

    func deploy(name: String, body: ByteBuffer, settings: FunctionSettings, isPrivate: Bool?, by actor: String) async throws
        -> DeployOutcome
    {
        let source = String(buffer: body)
        var changed: FunctionAccess?
        if let isPrivate, policy.access(of: name).isPrivate != isPrivate {
            changed = policy.access(of: name)
            changed?.isPrivate = isPrivate
            policy.setAccess(changed, of: name)
            audit("access", name, by: actor)
        }
        audit("deploy", name, by: actor)
        return state.withLock { state in
            state.deployed.append((source, settings))
            let function = Self.version(name, state.versions[name]?.count ?? 0, source: source)
            state.versions[name, default: []].append(function)
            return .deployed(function)
        }
    }

    func rollback(name: String, to version: Int, by actor: String) async throws -> FunctionVersion {
        guard let found = try await versions(of: name).first(where: { $0.version == version }) else {
            throw HostError.versionNotFound(name: name, version: version)
        }
        audit("rollback", name, by: actor)
        return found
    }

    func delete(name: String, by actor: String) async throws {
        guard state.withLock({ $0.versions.removeValue(forKey: name) }) != nil else { throw HostError.functionNotFound(name) }
        audit("delete", name, by: actor)
    }

    func versions(of name: String) async throws -> [FunctionVersion] {
        guard let versions = state.withLock({ $0.versions[name] }) else { throw HostError.functionNotFound(name) }
        return versions
    }

    func invoke(name: String, version: Int?, request: InvocationRequest) async throws -> Invocation {
        let serving = try function(named: name)
        state.withLock { $0.invoked.append(request) }
        let outcome = try self.outcome.get()
        return Invocation(
            outcome: outcome, workerPID: 7, id: "inv-1", version: version ?? serving.version, instance: serving.instance, logs: nil,
            startedAt: Date(), milliseconds: 1)
    }

    func record(_ record: InvocationRecord, of name: String) {
        state.withLock { $0.records[name, default: []].insert(record, at: 0) }
    }

    func recentInvocations(of name: String) -> [InvocationRecord] { state.withLock { $0.records[name] ?? [] } }

    func health() async -> FunctionHost.Health {
        FunctionHost.Health(
            python: "3.11", pandas: "1.5.3", workers: WorkerPool.Counts(live: 0, idle: 0, busy: 0, waiting: 0), spareWorkers: 0,
            zygoteRunning: zygoteRunning, sandboxLayers: [], allLayers: [], storeWritable: true, storeProblem: nil)
    }

    func recordPoolMetrics() async {}

    func createKey(functions: [String]?, ratePerSecond: Double?, by actor: String) async throws -> (key: InvokerKey, secret: String) {
        let made = InvokerKey.make(functions: functions, ratePerSecond: ratePerSecond)
        policy.add(made.key)
        audit("key_create", made.key.id, by: actor)
        return made
    }

    func invokerKeys() -> [InvokerKey] { policy.keys }

    func revokeKey(id: String, by actor: String) async throws {
        guard policy.keys.contains(where: { $0.id == id }) else { throw HostError.keyNotFound(id) }
        policy.removeKey(id: id)
        audit("key_revoke", id, by: actor)
    }

    func access(of name: String) -> FunctionAccess { policy.access(of: name) }

    func setAccess(_ access: FunctionAccess, of name: String, by actor: String) async throws {
        _ = try function(named: name)
        policy.setAccess(access, of: name)
        audit("access", name, by: actor)
    }

    func authorizeInvocation(of name: String, key: String?, configurator: Bool, spending: Bool) throws -> String? {
        try policy.authorize(name, secret: key, configurator: configurator, spending: spending, now: .now)
    }

    func allowsCrossOrigin(_ origin: String, toCall name: String) -> Bool {
        policy.access(of: name).allowedOrigins.contains(origin)
    }

    func auditTrail(limit: Int) async throws -> [AuditEntry] { state.withLock { Array($0.audit.prefix(limit)) } }
}
