import NIOCore
import PyHostCore

/// What the routes need of a host: the seam that lets them be tested in-process without a zygote.
/// `FunctionHost` is the one real implementation.
public protocol FunctionHostProtocol: Sendable {
    var configuration: HostConfiguration { get }
    func functions() -> [FunctionVersion]
    /// - Throws: `HostError.functionNotFound`.
    func function(named name: String) throws -> FunctionVersion
    /// Each change names its actor (`token` or `anonymous`), which the audit trail records in the
    /// change's own transaction.
    func deploy(name: String, body: ByteBuffer, settings: FunctionSettings, isPrivate: Bool?, by actor: String) async throws
        -> DeployOutcome
    func rollback(name: String, to version: Int, by actor: String) async throws -> FunctionVersion
    func delete(name: String, by actor: String) async throws
    func versions(of name: String) async throws -> [FunctionVersion]
    /// - Throws: `InvocationFailure`.
    func invoke(name: String, version: Int?, request: InvocationRequest) async throws -> Invocation
    func record(_ record: InvocationRecord, of name: String)
    func recentInvocations(of name: String) async throws -> [InvocationRecord]
    func health() async -> FunctionHost.Health
    func recordPoolMetrics() async
    func createKey(functions: [String]?, ratePerSecond: Double?, by actor: String) async throws -> (key: InvokerKey, secret: String)
    func invokerKeys() -> [InvokerKey]
    /// - Throws: `HostError.keyNotFound`.
    func revokeKey(id: String, by actor: String) async throws
    func access(of name: String) -> FunctionAccess
    /// - Throws: `HostError.functionNotFound`.
    func setAccess(_ access: FunctionAccess, of name: String, by actor: String) async throws
    /// - Throws: `HostError.keyRequired`, `.invalidKey`, `.keyNotAllowed` or `.rateLimited`.
    func authorizeInvocation(of name: String, key: String?, configurator: Bool, spending: Bool) throws -> String?
    func allowsCrossOrigin(_ origin: String, toCall name: String) -> Bool
    func auditTrail(limit: Int) async throws -> [AuditEntry]
}

extension FunctionHost: FunctionHostProtocol {}
