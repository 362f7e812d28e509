import CPyHostShims
import Foundation
import NIOCore
import PyHostWire

/// Gives a function's module to a fresh worker: a warm spare when one is ready, else a new fork.
struct WorkerLoader: Sendable {
    let spares: SpareWorkers
    private let zygotes: ZygoteSupervisor
    /// The zygotes of functions with packages of their own: their workers fork there, never spare.
    let environments: EnvironmentZygotes
    private let group: any EventLoopGroup
    private let limits: WorkerLimits
    /// How long importing a module may take.
    let timeout: Duration
    /// The largest result a worker may send back; larger ones become a `ResponseTooLarge` error.
    let maximumResponseBytes: Int

    enum Result {
        case ready(WorkerConnection)
        /// The module does not compile, raised at import, or has no `handle`: the reply frame.
        case failed(Frame)
    }

    init(
        zygotes: ZygoteSupervisor, environments: EnvironmentZygotes, group: any EventLoopGroup, limits: WorkerLimits,
        spareCount: Int, timeout: Duration, maximumResponseBytes: Int
    ) {
        self.environments = environments
        self.timeout = timeout
        self.maximumResponseBytes = maximumResponseBytes
        self.zygotes = zygotes
        self.group = group
        self.limits = limits
        self.spares = SpareWorkers(target: spareCount) { loop in
            try await Self.fork(
                zygote: try zygotes.client(), group: loop ?? group, limits: limits, maximumResponseBytes: maximumResponseBytes)
        }
    }

    private static func fork(
        zygote: ZygoteClient, group: any EventLoopGroup, limits: WorkerLimits, maximumResponseBytes: Int
    ) async throws -> WorkerConnection {
        try await WorkerConnection.adopt(
            try await zygote.spawn(limits: limits), zygote: zygote, group: group,
            limits: .worker(maximumResponseBytes: maximumResponseBytes))
    }

    /// Loads a stored version, with its memory setting, into a worker whose channel is on `loop`
    /// if one is given.
    func load(_ function: FunctionVersion, near loop: (any EventLoop)? = nil) async throws -> Result {
        try await load(
            name: function.name, source: function.source, memoryMiB: function.memoryMiB, requirements: function.requirements,
            near: loop)
    }

    /// Loads `source` as the module `name`. A worker whose module fails to load is ended.
    /// - Throws: `HostError.importCrashed` when importing ended the worker, `.deadlineExceeded`
    ///   when it took longer than `timeout`, or the zygote's failure to fork.
    func load(
        name: String, source: String, memoryMiB: Int? = nil, requirements: Requirements? = nil, near loop: (any EventLoop)? = nil
    ) async throws -> Result {
        // Spares carry the default limits, which a worker cannot change once confined, and come
        // from the base zygote.
        var custom = limits
        if let memoryMiB { custom.memoryBytes = UInt64(memoryMiB) * 1024 * 1024 }
        let worker: WorkerConnection
        if let requirements, requirements.environment != nil {
            worker = try await Self.fork(
                zygote: try await environments.client(for: requirements), group: loop ?? group, limits: custom,
                maximumResponseBytes: maximumResponseBytes)
        } else if custom != limits {
            worker = try await Self.fork(
                zygote: try zygotes.client(), group: loop ?? group, limits: custom, maximumResponseBytes: maximumResponseBytes)
        } else {
            worker = try await spares.take(near: loop)
        }
        // A JSON header line, then the source. The name is [a-z0-9_-] only, so needs no escaping.
        var payload = ByteBuffer()
        payload.writeString("{\"name\":\"\(name)\",\"max_response_bytes\":\(maximumResponseBytes)}\n")
        payload.writeString(source)
        let reply: Frame
        do {
            reply = try await worker.exchange(Frame(kind: .load, payload: payload), timeout: timeout).frame
        } catch WorkerChannelError.deadlineExceeded {
            worker.terminate()
            throw HostError.deadlineExceeded(seconds: timeout.seconds)
        } catch let error as HostError {
            throw error
        } catch {
            worker.terminate()
            throw HostError.importCrashed(await worker.describeEnd().explanation)
        }
        switch reply.kind {
        case .ready:
            return .ready(worker)
        case .syntaxError, .loadError:
            worker.terminate()
            return .failed(reply)
        case .sandboxViolation:
            let confirmed = await worker.diedOfSandboxViolation()
            worker.terminate()
            guard confirmed else { throw HostError.protocolViolation(Self.unconfirmedViolation) }
            throw HostError.importCrashed("it called \(Self.syscallName(reply.payload)), which the sandbox forbids")
        default:
            worker.terminate()
            throw HostError.protocolViolation("the worker answered a load with a \(reply.kind) frame")
        }
    }

    /// A stored version whose module fails to load now (it did at deploy: the host changed, or it
    /// depends on time or chance): the same 422 for a rollback and for a call.
    static func noLongerLoads(_ version: Int, _ frame: Frame) -> HostError {
        struct Body: Decodable {
            struct Error: Decodable {
                let type: String
                let message: String
            }
            let error: Error
        }
        let reason = (try? JSONDecoder().decode(Body.self, from: Data(frame.payload.readableBytesView))).map {
            ": \($0.error.type): \($0.error.message)"
        }
        return .importCrashed("version \(version) no longer loads\(reason ?? "")")
    }

    static let unconfirmedViolation = "the worker reported a sandbox violation it did not die of"

    /// The name of the syscall in a `sandboxViolation` frame.
    static func syscallName(_ payload: ByteBuffer) -> String {
        guard let number = payload.getInteger(at: payload.readerIndex, as: UInt32.self) else { return "an unknown syscall" }
        guard let name = pyhost_seccomp_syscall_name(Int32(bitPattern: number)) else { return "syscall \(number)" }
        return String(cString: name)
    }
}
