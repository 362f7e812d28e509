import NIOCore
import PyHostWire

/// Workers forked and warmed ahead of need, not yet given a function: a deploy, a cold function
/// or a burst takes one instead of paying for the fork and the first-touch page faults.
actor SpareWorkers {
    /// Forks a worker and adopts its channel, on the event loop given if one is.
    typealias Factory = @Sendable ((any EventLoop)?) async throws -> WorkerConnection

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
    /// this call's wait). Either way another spare starts in the background. With `loop`, the
    /// worker's channel is on that event loop: a spare there, or a new fork.
    func take(near loop: (any EventLoop)? = nil) async throws -> WorkerConnection {
        defer { replenish() }
        ready.removeAll { !$0.isActive }
        if let index = ready.lastIndex(where: { loop == nil || $0.eventLoop === loop }) {
            return ready.remove(at: index)
        }
        return try await factory(loop)
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
            let worker = try await factory(nil)
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
