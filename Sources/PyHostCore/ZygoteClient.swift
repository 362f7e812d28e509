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

/// The deadline of a zygote's start. Until the handshake settles it, expiring kills the zygote,
/// which cannot have been reaped yet, so its pid is still its own.
final class StartDeadline: Sendable {
    private let state = Mutex<(settled: Bool, expired: Bool)>((false, false))

    func expire(_ pid: pid_t) {
        state.withLock { state in
            guard !state.settled else { return }
            state = (true, true)
            kill(pid, SIGKILL)
        }
    }

    /// Settles the start; false if the deadline came first.
    func settle() -> Bool {
        state.withLock { state in
            defer { state.settled = true }
            return !state.expired
        }
    }

    var expired: Bool { state.withLock { $0.expired } }
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
    ///   - environment: the package environment of an environment's zygote, which must have
    ///     imported its packages within `startTimeout` or is killed.
    /// - Throws: `SandboxError.incomplete` naming the layers this host cannot provide,
    ///   `HostError.packagesFailedToImport` when an environment's packages did not import, or
    ///   `HostError.zygoteUnavailable` when the zygote fails otherwise.
    public static func start(
        executable: String, runtimeDirectory: String, allowWeakerSandbox: Bool, environment: ZygoteEnvironment? = nil,
        startTimeout: Duration? = nil, logger: Logger, onEnd: @escaping @Sendable () -> Void = {}
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
        let deadline = StartDeadline()
        if let startTimeout {
            DispatchQueue.global().asyncAfter(deadline: .now() + startTimeout.seconds) { deadline.expire(pid) }
        }
        // The handshake blocks (two recvmsg calls spanning pandas' import, the uid/gid map writes,
        // a waitpid on failure): it runs on a thread of its own, never on an event loop.
        let event = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: handshake(control: serverEnd, pid: pid, errors: errors, deadline: deadline))
            }
        }
        if deadline.expired, let startTimeout {
            throw HostError.packagesFailedToImport(
                "importing the environment's packages did not finish within \(Int(startTimeout.seconds)) s")
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
            guard environment == nil else {
                throw HostError.packagesFailedToImport(
                    "the environment's zygote ended, or broke the protocol, while importing its packages; see the server's log")
            }
            throw HostError.zygoteUnavailable("the zygote did not start; its error is in the server's log")
        }
    }

    /// Answers the zygote's identity-map request and reads its first event. Blocks.
    /// Anything but `.started` leaves the zygote reaped and the channel closed.
    private static func handshake(
        control: ControlSocket, pid: pid_t, errors: ZygoteErrorStream, deadline: StartDeadline
    ) -> ZygoteEvent? {
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
        // Settled before any waitpid below, so the deadline never signals a reaped pid.
        let inTime = deadline.settle()
        if case .started? = event, inTime { return event }
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

    /// How long a fork may take before the zygote counts as broken and is stopped.
    static let spawnTimeout: Duration = .seconds(30)

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
                DispatchQueue.global().asyncAfter(deadline: .now() + Self.spawnTimeout.seconds) { [self] in
                    if state.withLock({ $0.spawns[id] != nil }) {
                        stop(brokeProtocol: "no answer to a spawn within \(Int(Self.spawnTimeout.seconds)) s")
                    }
                }
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
            do {
                guard let (event, fds) = try control.receive(ZygoteEvent.self) else { break }
                handle(event, fds: fds)
            } catch is DecodingError {
                stop(brokeProtocol: "a message that is not a zygote event")
            } catch {
                break
            }
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
            stop(brokeProtocol: "an unexpected \(String(describing: event).prefix(200))")
        }
    }

    /// Kills a zygote that sent what the protocol does not allow: an environment's zygote runs
    /// its packages' code, so its word is untrusted. It is not reaped yet, so its pid is its own.
    private func stop(brokeProtocol what: String) {
        logger.error("zygote stopped: it broke the protocol", metadata: ["sent": "\(what)"])
        kill(pid, SIGKILL)
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
