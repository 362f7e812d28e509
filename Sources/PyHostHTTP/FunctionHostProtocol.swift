import NIOCore
import PyHostCore

/// What the routes need of a host: the seam that lets them be tested in-process without a zygote.
/// `FunctionHost` is the one real implementation.
public protocol FunctionHostProtocol: Sendable {
    var configuration: HostConfiguration { get }
    func functions() -> [FunctionVersion]
    /// - Throws: `HostError.functionNotFound`.
    func function(named name: String) throws -> FunctionVersion
    func deploy(name: String, body: ByteBuffer, settings: FunctionSettings, isPrivate: Bool?) async throws -> DeployOutcome
    func rollback(name: String, to version: Int) async throws -> FunctionVersion
    func delete(name: String) async throws
    func versions(of name: String) async throws -> [FunctionVersion]
    /// - Throws: `InvocationFailure`.
    func invoke(name: String, version: Int?, request: InvocationRequest) async throws -> Invocation
    func record(_ record: InvocationRecord, of name: String)
    func recentInvocations(of name: String) throws -> [InvocationRecord]
    func health() async -> FunctionHost.Health
    func recordPoolMetrics() async
    func createKey(functions: [String]?, ratePerSecond: Double?) async throws -> (key: InvokerKey, secret: String)
    func invokerKeys() -> [InvokerKey]
    /// - Throws: `HostError.keyNotFound`.
    func revokeKey(id: String) async throws
    func access(of name: String) -> FunctionAccess
    func setAccess(_ access: FunctionAccess, of name: String) async throws
    /// - Throws: `HostError.keyRequired`, `.invalidKey`, `.keyNotAllowed` or `.rateLimited`.
    func authorizeInvocation(of name: String, key: String?, configurator: Bool, spending: Bool) throws -> String?
    func allowsCrossOrigin(_ origin: String, toCall name: String) -> Bool
    func audit(_ entry: AuditEntry) async throws
    func auditTrail(limit: Int) async throws -> [AuditEntry]
}

extension FunctionHost: FunctionHostProtocol {}
