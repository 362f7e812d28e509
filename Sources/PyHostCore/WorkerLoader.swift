import CPyHostShims
import NIOCore
import PyHostWire

/// Gives a function's module to a fresh worker: a warm spare when one is ready, else a new fork.
struct WorkerLoader: Sendable {
    let zygote: ZygoteClient
    let spares: SpareWorkers
    /// How long importing a module may take.
    let timeout: Duration

    enum Result {
        case ready(WorkerConnection)
        /// The module does not compile, raised at import, or has no `handle`: the reply frame.
        case failed(Frame)
    }

    init(zygote: ZygoteClient, group: any EventLoopGroup, limits: WorkerLimits, spareCount: Int, timeout: Duration) {
        self.zygote = zygote
        self.timeout = timeout
        self.spares = SpareWorkers(target: spareCount) {
            try await WorkerConnection.adopt(try await zygote.spawn(limits: limits), group: group)
        }
    }

    /// Loads `source` as the module `name`. A worker whose module fails to load is ended.
    /// - Throws: `HostError.importCrashed` when importing ended the worker, `.deadlineExceeded`
    ///   when it took longer than `timeout`, or the zygote's failure to fork.
    func load(name: String, source: String) async throws -> Result {
        let worker = try await spares.take()
        var payload = ByteBuffer()
        payload.writeString(name)
        payload.writeString("\n")
        payload.writeString(source)
        let reply: Frame
        do {
            reply = try await worker.exchange(Frame(kind: .load, payload: payload), timeout: timeout)
        } catch WorkerChannelError.deadlineExceeded {
            worker.terminate()
            throw HostError.deadlineExceeded(seconds: timeout.seconds)
        } catch {
            worker.terminate()
            let exit = await zygote.exit(of: worker.pid, within: .seconds(2))
            throw HostError.importCrashed(exit?.explanation ?? "the worker closed its channel")
        }
        switch reply.kind {
        case .ready:
            return .ready(worker)
        case .syntaxError, .loadError:
            worker.terminate()
            return .failed(reply)
        case .sandboxViolation:
            worker.terminate()
            throw HostError.importCrashed("it called \(Self.syscallName(reply.payload)), which the sandbox forbids")
        default:
            worker.terminate()
            throw HostError.protocolViolation("the worker answered a load with a \(reply.kind) frame")
        }
    }

    /// The name of the syscall in a `sandboxViolation` frame.
    static func syscallName(_ payload: ByteBuffer) -> String {
        guard let number = payload.getInteger(at: payload.readerIndex, as: UInt32.self) else { return "an unknown syscall" }
        guard let name = pyhost_seccomp_syscall_name(Int32(bitPattern: number)) else { return "syscall \(number)" }
        return String(cString: name)
    }
}
