import NIOCore
import PyHostWire

/// Workers forked and warmed ahead of need, not yet given a function: a deploy, a cold function
/// or a burst takes one instead of paying for the fork and the first-touch page faults.
actor SpareWorkers {
    /// Forks a worker and adopts its channel.
    typealias Factory = @Sendable () async throws -> WorkerConnection

    private let target: Int
    private let factory: Factory
    private var ready: [WorkerConnection] = []
    private var starting = 0
    private var stopped = false

    init(target: Int, factory: @escaping Factory) {
        self.target = target
        self.factory = factory
    }

    /// A warm spare if one is ready, else a worker forked now (not warmed: that would only add to
    /// this call's wait). Either way another spare starts in the background.
    func take() async throws -> WorkerConnection {
        defer { replenish() }
        while let spare = ready.popLast() {
            if spare.isActive { return spare }
        }
        return try await factory()
    }

    /// Starts spares until `target` are ready or starting.
    func replenish() {
        while !stopped && ready.count + starting < target {
            starting += 1
            Task { await self.startOne() }
        }
    }

    /// Spares warmed and waiting.
    var readyCount: Int { ready.count }

    func shutdown() {
        stopped = true
        ready.forEach { $0.terminate() }
        ready = []
    }

    private func startOne() async {
        defer { starting -= 1 }
        do {
            let worker = try await factory()
            // The warm-up touches the interpreter's and pandas's hot pages, taking the copy-on-write
            // faults now rather than in the first real call.
            let reply = try await worker.exchange(Frame(kind: .warm, payload: ByteBuffer()), timeout: .seconds(10)).frame
            guard reply.kind == .ready, !stopped else {
                worker.terminate()
                return
            }
            ready.append(worker)
        } catch {
            // The next take() forks directly; the zygote's failure surfaces there.
        }
    }
}
