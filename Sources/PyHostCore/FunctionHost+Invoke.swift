import Foundation
import NIOCore
import NIOPosix
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
        // The call's connection's event loop, before any wait moves the task elsewhere.
        let loop = MultiThreadedEventLoopGroup.currentEventLoop
        let started = Date()
        let clock = ContinuousClock.now
        var resolved = (version: version ?? catalog[name]?.version ?? 0, instance: "")
        do {
            let function = try await resolve(name: name, version: version)
            resolved = (function.version, function.instance)
            let (outcome, worker, logs) = try await call(function, request: request, id: id, near: loop)
            return Invocation(
                outcome: outcome, workerPID: worker, id: id, version: function.version, instance: function.instance, logs: logs,
                startedAt: started, milliseconds: (ContinuousClock.now - clock).seconds * 1000)
        } catch let error as HostError {
            if case .functionNotFound = error {
            } else {
                logger.warning("invocation failed", metadata: ["invocation_id": "\(id)", "function": "\(name)", "error": "\(error)"])
            }
            throw InvocationFailure(
                error: error, id: id, version: resolved.version, instance: resolved.instance, startedAt: started,
                milliseconds: (ContinuousClock.now - clock).seconds * 1000)
        }
    }

    /// Keeps an invocation, with the status it answered, for `recentInvocations`.
    /// A call that ends after its function was deleted is not kept; one that ends as it is deleted
    /// (and perhaps deployed again) is not shown (see `recentInvocations`).
    public func record(_ record: InvocationRecord, of name: String) {
        guard catalog[name] != nil else { return }
        var record = record
        record.node = configuration.nodeName
        if let sharedInvocationLog {
            sharedInvocationLog.append(record, to: name)
        } else {
            invocationLog.append(record, to: name)
        }
    }

    private func resolve(name: String, version: Int?) async throws -> FunctionVersion {
        guard let serving = catalog[name] else { throw HostError.functionNotFound(name) }
        guard let version, version != serving.version else { return serving }
        guard let found = try await registry.version(name: name, version: version) else {
            throw HostError.versionNotFound(name: name, version: version)
        }
        return found
    }

    private func call(_ function: FunctionVersion, request: InvocationRequest, id: String, near loop: (any EventLoop)?) async throws -> (
        InvocationOutcome, Int32, ByteBuffer?
    ) {
        guard request.body.readableBytes <= configuration.maximumRequestBytes else {
            throw HostError.requestTooLarge(limit: configuration.maximumRequestBytes)
        }
        let timeout = function.timeoutSeconds.map { Duration.milliseconds(Int64($0 * 1000)) } ?? configuration.timeout
        let deadline = ContinuousClock.now + timeout
        // The frame tells the handler the time it has left, so it is made once a worker is there.
        let frame = { Frame(kind: .invoke, payload: request.payload(id: id, function: function, timeout: deadline - .now)) }
        var (worker, reply) = try await exchange(function, frame, deadline: deadline, timeout: timeout, near: loop)
        if reply == nil {
            // The worker had ended before the frame reached it: no user code ran, so one other
            // worker may take the call.
            (worker, reply) = try await exchange(function, frame, deadline: deadline, timeout: timeout, near: loop)
        }
        guard let reply else {
            HostMetrics.workerDeath(cause: "unknown")
            throw HostError.workerDied("the worker ended before the call reached it")
        }
        let outcome: InvocationOutcome
        let answersJSON = [.result, .handlerError, .requestError, .notAcceptable].contains(reply.frame.kind)
        if answersJSON && !JSONSyntax.isValid(reply.frame.payload) {
            // The bytes go out as JSON, or into the envelope: a worker writing its own frames may not forge them.
            pool.release(worker, healthy: false)
            HostMetrics.workerDeath(cause: "protocol_violation")
            throw HostError.protocolViolation("the worker's \(reply.frame.kind) frame is not JSON")
        }
        switch reply.frame.kind {
        case .result: outcome = .returned(reply.frame.payload)
        case .handlerError: outcome = .raised(reply.frame.payload)
        case .requestError: outcome = .badRequest(reply.frame.payload)
        case .response: outcome = .responded(reply.frame.payload)
        case .notAcceptable: outcome = .notAcceptable(reply.frame.payload)
        case .sandboxViolation:
            let confirmed = await worker.diedOfSandboxViolation()
            pool.release(worker, healthy: false)
            guard confirmed else {
                HostMetrics.workerDeath(cause: "protocol_violation")
                throw HostError.protocolViolation(WorkerLoader.unconfirmedViolation)
            }
            HostMetrics.workerDeath(cause: "sandbox_violation")
            throw HostError.sandboxViolation(syscall: WorkerLoader.syscallName(reply.frame.payload))
        default:
            pool.release(worker, healthy: false)
            throw HostError.protocolViolation("the worker answered an invocation with a \(reply.frame.kind) frame")
        }
        pool.release(worker, healthy: true)
        return (outcome, worker.pid, reply.logs)
    }

    /// Sends the frame `frame` makes to a worker of `function`. The reply is nil when the worker had already ended
    /// and the frame never reached it.
    private func exchange(
        _ function: FunctionVersion, _ frame: () -> Frame, deadline: ContinuousClock.Instant, timeout: Duration,
        near loop: (any EventLoop)?
    ) async throws -> (WorkerConnection, WorkerReply?) {
        let worker: WorkerConnection
        switch try pool.acquire(function.key, deadline: deadline, near: loop) {
        case .worker(let idle): worker = idle
        case .waiting(let ticket): worker = try await pool.wait(for: ticket)
        }
        do {
            return (worker, try await worker.exchange(frame(), timeout: deadline - .now))
        } catch WorkerChannelError.notSent {
            pool.release(worker, healthy: false)
            return (worker, nil)
        } catch WorkerChannelError.deadlineExceeded {
            // The 504 goes out now; the worker is killed at once (see `terminate`), and a spare
            // replaces it.
            worker.terminate()
            pool.release(worker, healthy: false)
            HostMetrics.workerDeath(cause: "deadline")
            throw HostError.deadlineExceeded(seconds: timeout.seconds)
        } catch let error as HostError {
            pool.release(worker, healthy: false)
            HostMetrics.workerDeath(cause: "protocol_violation")
            throw error
        } catch {
            pool.release(worker, healthy: false)
            let end = await worker.describeEnd()
            HostMetrics.workerDeath(cause: end.cause)
            throw HostError.workerDied(end.explanation)
        }
    }
}

/// A host failure of one invocation, with what identifies it.
public struct InvocationFailure: Error {
    public let error: HostError
    public let id: String
    public let version: Int
    /// The version's `FunctionVersion.instance`, or "" when no version was found.
    public let instance: String
    public let startedAt: Date
    public let milliseconds: Double
}
