import Foundation
import NIOCore
import PyHostWire

extension FunctionHost {
    /// Calls `name` with `body`, a JSON request: its serving version, or `version` if given.
    /// - Throws: `InvocationFailure`, a host failure with the invocation's id.
    public func invoke(name: String, version: Int? = nil, body: ByteBuffer) async throws -> Invocation {
        try await invoke(name: name, version: version, request: InvocationRequest(body: body))
    }

    /// Calls `name` with `request`: its serving version, or `version` if given.
    /// - Throws: `InvocationFailure`, a host failure with the invocation's id.
    public func invoke(name: String, version: Int? = nil, request: InvocationRequest) async throws -> Invocation {
        let id = InvocationID.make()
        let started = Date()
        let clock = ContinuousClock.now
        var resolved = version ?? catalog[name]?.version ?? 0
        do {
            let function = try await resolve(name: name, version: version)
            resolved = function.version
            let (outcome, worker, logs) = try await call(function, request: request, id: id)
            return Invocation(
                outcome: outcome, workerPID: worker, id: id, version: function.version, logs: logs, startedAt: started,
                milliseconds: (ContinuousClock.now - clock).seconds * 1000)
        } catch let error as HostError {
            if case .functionNotFound = error {
            } else {
                logger.warning("invocation failed", metadata: ["invocation_id": "\(id)", "function": "\(name)", "error": "\(error)"])
            }
            throw InvocationFailure(
                error: error, id: id, version: resolved, startedAt: started,
                milliseconds: (ContinuousClock.now - clock).seconds * 1000)
        }
    }

    /// Keeps an invocation, with the status it answered, for `recentInvocations`.
    public func record(_ record: InvocationRecord, of name: String) {
        guard catalog[name] != nil else { return }
        invocationLog.append(record, to: name)
    }

    private func resolve(name: String, version: Int?) async throws -> FunctionVersion {
        guard let serving = catalog[name] else { throw HostError.functionNotFound(name) }
        guard let version, version != serving.version else { return serving }
        guard let found = try await registry.version(name: name, version: version) else {
            throw HostError.versionNotFound(name: name, version: version)
        }
        return found
    }

    private func call(_ function: FunctionVersion, request: InvocationRequest, id: String) async throws -> (
        InvocationOutcome, Int32, ByteBuffer?
    ) {
        guard request.body.readableBytes <= configuration.maximumRequestBytes else {
            throw HostError.requestTooLarge(limit: configuration.maximumRequestBytes)
        }
        let timeout = function.timeoutSeconds.map { Duration.milliseconds(Int64($0 * 1000)) } ?? configuration.timeout
        let deadline = ContinuousClock.now + timeout
        let worker = try await pool.acquire(function.key, deadline: deadline, timeout: timeout)
        let reply: WorkerReply
        do {
            reply = try await worker.exchange(
                Frame(kind: .invoke, payload: request.payload(id: id, function: function, timeout: deadline - .now)),
                timeout: deadline - .now)
        } catch WorkerChannelError.deadlineExceeded {
            // The 504 goes out now; the worker gets its grace period in the background, and a
            // spare replaces it.
            worker.stop(grace: configuration.terminationGrace)
            await pool.release(worker, healthy: false)
            HostMetrics.workerDeath(cause: "deadline")
            throw HostError.deadlineExceeded(seconds: timeout.seconds)
        } catch {
            await pool.release(worker, healthy: false)
            let end = await worker.describeEnd()
            HostMetrics.workerDeath(cause: end.cause)
            throw HostError.workerDied(end.explanation)
        }
        let outcome: InvocationOutcome
        switch reply.frame.kind {
        case .result: outcome = .returned(reply.frame.payload)
        case .handlerError: outcome = .raised(reply.frame.payload)
        case .requestError: outcome = .badRequest(reply.frame.payload)
        case .response: outcome = .responded(reply.frame.payload)
        case .notAcceptable: outcome = .notAcceptable(reply.frame.payload)
        case .sandboxViolation:
            await pool.release(worker, healthy: false)
            HostMetrics.workerDeath(cause: "sandbox_violation")
            throw HostError.sandboxViolation(syscall: WorkerLoader.syscallName(reply.frame.payload))
        default:
            await pool.release(worker, healthy: false)
            throw HostError.protocolViolation("the worker answered an invocation with a \(reply.frame.kind) frame")
        }
        await pool.release(worker, healthy: true)
        return (outcome, worker.pid, reply.logs)
    }
}

/// A host failure of one invocation, with what identifies it.
public struct InvocationFailure: Error {
    public let error: HostError
    public let id: String
    public let version: Int
    public let startedAt: Date
    public let milliseconds: Double
}
