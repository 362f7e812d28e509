import NIOCore
import PyHostCore

/// What the routes need of a host: the seam that lets them be tested in-process without a zygote.
/// `FunctionHost` is the one real implementation.
public protocol FunctionHostProtocol: Sendable {
    var configuration: HostConfiguration { get }
    func functions() -> [FunctionVersion]
    /// - Throws: `HostError.functionNotFound`.
    func function(named name: String) throws -> FunctionVersion
    func deploy(name: String, body: ByteBuffer, settings: FunctionSettings) async throws -> DeployOutcome
    func rollback(name: String, to version: Int) async throws -> FunctionVersion
    func delete(name: String) async throws
    func versions(of name: String) async throws -> [FunctionVersion]
    /// - Throws: `InvocationFailure`.
    func invoke(name: String, version: Int?, request: InvocationRequest) async throws -> Invocation
    func record(_ record: InvocationRecord, of name: String)
    func recentInvocations(of name: String) throws -> [InvocationRecord]
    func health() async -> FunctionHost.Health
    func recordPoolMetrics() async
}

extension FunctionHost: FunctionHostProtocol {}
