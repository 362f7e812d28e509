import CPyHostShims
import Foundation
import Logging
import PyHostWire
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A forked worker as the zygote hands it over: its pid, a pidfd, and its end of the channel.
public struct SpawnedProcess: Sendable {
    /// The spawn request's id, which names the worker's exit too.
    public let id: UInt64
    public let pid: Int32
    public let pidfd: Int32
    public let channelFD: Int32
}

/// The server's side of the zygote: starts it with posix_spawn (the server never forks), asks it for
/// workers, and learns from it how each worker ended.
public final class ZygoteClient: Sendable {
    public let pid: Int32
    public let pythonVersion: String
    public let pandasVersion: String
    /// The layers confining every worker, as the zygote reported them.
    public let sandboxLayers: [SandboxLayer]
    private let control: ControlSocket
    private let state: Mutex<State>
    private let logger: Logger
    /// Called once if the zygote ends without `shutdown` having been asked for.
    private let onEnd: @Sendable () -> Void

    private struct State {
        var nextID: UInt64 = 1
        var spawns: [UInt64: CheckedContinuation<SpawnedProcess, any Error>] = [:]
        /// By spawn id: a pid may be reused by a later worker, a spawn id never.
        var exits: [UInt64: WorkerExit] = [:]
        var exitWaiters: [UInt64: [CheckedContinuation<WorkerExit?, Never>]] = [:]
        var running = true
        /// The zygote has exited (it may not be reaped yet, so its pid is not reused).
        var exited = false
        var reaped = false
        var reapWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Starts the zygote and waits until pandas is imported.
    /// - Parameters:
    ///   - executable: this program; the zygote is its `__zygote` role.
    ///   - runtimeDirectory: the folder holding `pyhost_runtime`.
    ///   - allowWeakerSandbox: start even if some sandbox layers cannot be set up on this host.
    /// - Throws: `SandboxError.incomplete` naming the layers this host cannot provide, or
    ///   `HostError.zygoteUnavailable` when the zygote fails otherwise.
    public static func start(
        executable: String, runtimeDirectory: String, allowWeakerSandbox: Bool, environment: ZygoteEnvironment? = nil,
        logger: Logger, onEnd: @escaping @Sendable () -> Void = {}
    ) async throws -> ZygoteClient {
        let (serverEnd, zygoteEnd) = try ControlSocket.pair()
        let errors: ZygoteErrorStream
        let pid: pid_t
        do {
            errors = try ZygoteErrorStream()
            // The reader ends by itself once the write end is closed: here if the spawn fails,
            // else when the zygote exits.
            errors.forward(to: logger)
            var arguments = ["__zygote", runtimeDirectory]
            if allowWeakerSandbox { arguments.append("--allow-weaker-sandbox") }
            arguments += environment?.arguments ?? []
            defer { close(errors.writeFD) }
            pid = try spawnProcess(executable: executable, arguments: arguments, controlFD: zygoteEnd.fd, errorFD: errors.writeFD)
        } catch {
            serverEnd.close()
            zygoteEnd.close()
            throw error
        }
        zygoteEnd.close()
        // The handshake blocks (two recvmsg calls spanning pandas' import, the uid/gid map writes,
        // a waitpid on failure): it runs on a thread of its own, never on an event loop.
        let event = await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: handshake(control: serverEnd, pid: pid, errors: errors)) }
        }
        switch event {
        case .started(let python, let pandas, let layers):
            let client = ZygoteClient(
                pid: pid, python: python, pandas: pandas, layers: layers, control: serverEnd, logger: logger, onEnd: onEnd)
            Thread.detachNewThread { client.readEvents() }
            return client
        case .refused(let missing):
            throw SandboxError.incomplete(missing)
        case .failed(let message):
            throw HostError.packagesFailedToImport(message)
        default:
            throw HostError.zygoteUnavailable("the zygote did not start; its error is in the server's log")
        }
    }

    /// Answers the zygote's identity-map request and reads its first event. Blocks.
    /// Anything but `.started` leaves the zygote reaped and the channel closed.
    private static func handshake(control: ControlSocket, pid: pid_t, errors: ZygoteErrorStream) -> ZygoteEvent? {
        var event = try? control.receive(ZygoteEvent.self)?.0
        if event == .identityMapRequested {
            let reply: ZygoteRequest
            switch IdentityMap.write(pid: pid) {
            case .fullRange: reply = .identityMapped(fullRange: true, error: nil)
            case .ownIdentity: reply = .identityMapped(fullRange: false, error: nil)
            case .failed(let error): reply = .identityMapped(fullRange: false, error: error)
            }
            try? control.send(reply)
            event = try? control.receive(ZygoteEvent.self)?.0
        }
        if case .started? = event { return event }
        control.close()
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        // The zygote's last words say why it did not start: log them before the caller gives up.
        errors.waitForEnd(timeout: .seconds(2))
        return event
    }

    private init(
        pid: Int32, python: String, pandas: String, layers: [SandboxLayer], control: ControlSocket, logger: Logger,
        onEnd: @escaping @Sendable () -> Void
    ) {
        self.onEnd = onEnd
        self.pid = pid
        self.pythonVersion = python
        self.pandasVersion = pandas
        self.sandboxLayers = layers
        self.control = control
        self.state = Mutex(State())
        self.logger = logger
    }

    /// Forks a new worker.
    /// - Throws: `HostError.zygoteUnavailable` when the zygote is gone or cannot fork.
    public func spawn(limits: WorkerLimits) async throws -> SpawnedProcess {
        try await withCheckedThrowingContinuation { continuation in
            let id: UInt64? = state.withLock { state in
                guard state.running else { return nil }
                let id = state.nextID
                state.nextID += 1
                state.spawns[id] = continuation
                return id
            }
            guard let id else {
                continuation.resume(throwing: HostError.zygoteUnavailable("the zygote is not running"))
                return
            }
            do {
                try control.send(ZygoteRequest.spawn(id: id, limits: limits))
            } catch {
                if let continuation = state.withLock({ $0.spawns.removeValue(forKey: id) }) {
                    continuation.resume(throwing: HostError.zygoteUnavailable("cannot reach the zygote: \(error)"))
                }
            }
        }
    }

    /// How worker `pid` ended, once the zygote reaped it; nil if that is not known within `timeout`.
    public func exit(of spawn: UInt64, within timeout: Duration) async -> WorkerExit? {
        await withCheckedContinuation { continuation in
            let known: WorkerExit?? = state.withLock { state in
                if let exit = state.exits.removeValue(forKey: spawn) { return .some(exit) }
                if !state.running { return .some(nil) }
                state.exitWaiters[spawn, default: []].append(continuation)
                return nil
            }
            if let known {
                continuation.resume(returning: known)
                return
            }
            // Set only once the waiter is registered, so the timeout always finds it.
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(timeout.nanoseconds))) {
                self.resumeExitWaiters(spawn: spawn, with: nil)
            }
        }
    }

    /// Closes the control socket: the zygote kills its workers and exits. Waits for it, and kills
    /// it if it has not gone within `grace`.
    public func shutdown(grace: Duration = .seconds(5)) async {
        let wasRunning = state.withLock { state in
            defer { state.running = false }
            return state.running
        }
        if wasRunning { Glibc.shutdown(control.fd, Int32(SHUT_RDWR)) }
        let deadline = DispatchWorkItem { [self] in
            // Under the lock the zygote is at worst a zombie the reader has not reaped: its pid is still its own.
            state.withLock { state in
                if !state.exited { kill(pid, SIGKILL) }
            }
        }
        let seconds = Double(grace.components.seconds) + Double(grace.components.attoseconds) / 1e18
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: deadline)
        await withCheckedContinuation { continuation in
            let reaped = state.withLock { state in
                if !state.reaped { state.reapWaiters.append(continuation) }
                return state.reaped
            }
            if reaped { continuation.resume() }
        }
        deadline.cancel()
    }

    private func readEvents() {
        while true {
            guard let (event, fds) = try? control.receive(ZygoteEvent.self) else { break }
            handle(event, fds: fds)
        }
        // Wait without reaping first, so `shutdown`'s deadline can never signal a reused pid.
        var info = siginfo_t()
        _ = try? systemCall("waitid") { waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) }
        state.withLock { $0.exited = true }
        var status: Int32 = 0
        _ = try? systemCall("waitpid") { waitpid(pid, &status, 0) }
        let wasRunning = state.withLock { $0.running }
        if wasRunning {
            logger.error("zygote ended", metadata: ["how": "\(WorkerExit(waitStatus: status).explanation)"])
        }
        let (spawns, waiters) = state.withLock { state in
            state.running = false
            defer {
                state.spawns = [:]
                state.exitWaiters = [:]
            }
            return (Array(state.spawns.values), state.exitWaiters.values.flatMap { $0 })
        }
        spawns.forEach { $0.resume(throwing: HostError.zygoteUnavailable("the zygote ended")) }
        waiters.forEach { $0.resume(returning: nil) }
        control.close()
        let reapWaiters = state.withLock { state in
            state.reaped = true
            defer { state.reapWaiters = [] }
            return state.reapWaiters
        }
        reapWaiters.forEach { $0.resume() }
        if wasRunning { onEnd() }
    }

    /// Whether the zygote is running and has not been asked to stop.
    public var isRunning: Bool { state.withLock { $0.running } }

    private func handle(_ event: ZygoteEvent, fds: [Int32]) {
        switch event {
        case .spawned(let id, _) where fds.count == 2:
            let continuation = state.withLock { $0.spawns.removeValue(forKey: id) }
            // The pid as the kernel gives it for the pidfd, in the server's PID namespace: an
            // environment's zygote has one of its own, and its word is not trusted.
            guard let continuation, let pid = Self.processID(ofPIDFD: fds[1]) else {
                fds.forEach { _ = close($0) }
                continuation?.resume(throwing: HostError.protocolViolation("the zygote sent a worker without a valid pidfd"))
                return
            }
            continuation.resume(returning: SpawnedProcess(id: id, pid: pid, pidfd: fds[1], channelFD: fds[0]))
        case .spawnFailed(let id, let message):
            fds.forEach { _ = close($0) }
            state.withLock { $0.spawns.removeValue(forKey: id) }?
                .resume(throwing: HostError.zygoteUnavailable("the zygote could not fork a worker: \(message)"))
        case .exited(let id, _, let exit):
            fds.forEach { _ = close($0) }
            // One critical section: a waiter that registers between "nobody waits" and "remember
            // it" would otherwise wait out its timeout for an exit already known.
            let waiters = state.withLock { state in
                if let waiters = state.exitWaiters.removeValue(forKey: id) { return waiters }
                state.exits[id] = exit
                // Bound what is remembered of workers nobody asks about.
                if state.exits.count > 1024 { state.exits.removeAll() }
                return []
            }
            waiters.forEach { $0.resume(returning: exit) }
        default:
            fds.forEach { _ = close($0) }
            logger.warning("unexpected zygote event", metadata: ["event": "\(event)"])
        }
    }

    /// The pid a pidfd refers to, seen from this process (the `Pid:` line of its fdinfo); nil when
    /// the descriptor is no pidfd or its process is gone.
    static func processID(ofPIDFD fd: Int32) -> Int32? {
        guard let info = try? String(contentsOfFile: "/proc/self/fdinfo/\(fd)", encoding: .utf8) else { return nil }
        for line in info.split(separator: "\n") where line.hasPrefix("Pid:") {
            guard let pid = Int32(line.dropFirst(4).trimmingCharacters(in: .whitespaces)), pid > 0 else { return nil }
            return pid
        }
        return nil
    }

    @discardableResult
    private func resumeExitWaiters(spawn: UInt64, with exit: WorkerExit?) {
        let waiters = state.withLock { $0.exitWaiters.removeValue(forKey: spawn) } ?? []
        waiters.forEach { $0.resume(returning: exit) }
    }
}
