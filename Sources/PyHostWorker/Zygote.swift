import CPyHostShims
import Foundation
import PyHostWire

#if canImport(Glibc)
    import Glibc
#endif

/// The single-threaded process that holds a warm interpreter with pandas imported and forks workers.
///
/// It speaks to the server over a SOCK_SEQPACKET socket on fd 3. It exits when the server closes
/// that socket, and its workers die with it (each sets PR_SET_PDEATHSIG).
public enum Zygote {
    /// The first argument that selects this role, decided before any async code runs.
    public static let roleArgument = "__zygote"
    public static let controlFD: Int32 = 3

    /// The argument that lets the zygote run without the layers it could not set up.
    public static let allowWeakerArgument = "--allow-weaker-sandbox"

    /// The layers every worker applies to itself after the fork (see `WorkerProcess.confine`).
    static let workerLayers: [SandboxLayer] = [
        .unprivilegedIdentity, .resourceLimits, .parentDeathSignal, .closedDescriptors, .notDumpable,
        .scrubbedEnvironment, .noNewPrivileges, .seccomp,
    ]

    /// Initializes Python, imports pandas and the runtime, confines itself, then serves spawn
    /// requests. With an `environment`, nothing but the interpreter loads before confinement: its
    /// packages, pandas among them, are imported after it (`ZygoteEnvironment.importPackages`).
    /// Never returns.
    public static func run(runtimeDirectory: String, allowWeakerSandbox: Bool, environment: ZygoteEnvironment? = nil) -> Never {
        let control = ControlSocket(fd: controlFD)
        // Nothing of the server's but the control socket and stderr: not its listening socket.
        _ = pyhost_close_range_from(UInt32(controlFD + 1))
        do {
            // Python and pandas load first, as host root: importing pandas runs `uname -p`, and the
            // runtime lives in the checkout, which the confined file system no longer shows.
            var versions = try startInterpreter(runtimeDirectory: environment == nil ? runtimeDirectory : nil)
            let confinement = try ZygoteConfinement.establish(
                control: control, binds: environment?.binds(runtimeDirectory: runtimeDirectory) ?? [])
            if !confinement.missing.isEmpty {
                guard allowWeakerSandbox else {
                    try control.send(ZygoteEvent.refused(missing: confinement.missing))
                    exit(1)
                }
                for missing in confinement.missing { printToStandardError("pyhost zygote: running without \(missing)") }
            }
            if let environment {
                // Without a read-only root of its own (a weaker sandbox), the host's folders are in sight.
                let bound = confinement.active.contains(.readOnlyRoot)
                // Dies with the server even while its packages import (set after the identity change,
                // which clears it).
                try systemCall("prctl(PR_SET_PDEATHSIG)") { pyhost_set_parent_death_signal(SIGKILL) }
                if getppid() == 1 { exit(0) }
                if bound && confinement.workerNamespaces & UInt(PYHOST_CLONE_NEWPID) != 0 {
                    try ZygoteEnvironment.enterPIDNamespace()
                }
                if let failure = try environment.importPackages(
                    runtime: bound ? ZygoteEnvironment.runtime : runtimeDirectory,
                    sitePackages: bound ? ZygoteEnvironment.sitePackages : environment.directory)
                {
                    try control.send(ZygoteEvent.failed(message: failure))
                    exit(1)
                }
                versions = try interpreterVersions()
            }
            var layers = confinement.active
            for layer in workerLayers where !layers.contains(layer) && !confinement.missing.contains(where: { $0.layer == layer }) {
                layers.append(layer)
            }
            try control.send(ZygoteEvent.started(python: versions.python, pandas: versions.pandas, layers: layers))
            try serve(control, confinement: confinement, identityOffset: environment?.identityOffset ?? 0, checked: environment != nil)
            exit(0)
        } catch let error as SystemCallError where error.errno == EPIPE || error.errno == ECONNRESET {
            exit(0)  // the server left first; the workers die with this process
        } catch {
            printToStandardError("pyhost zygote: \(error)")
            exit(1)
        }
    }

    struct StartError: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts the interpreter and, given the runtime's folder, imports the runtime and pandas.
    private static func startInterpreter(runtimeDirectory: String?) throws -> (python: String, pandas: String) {
        // Before the interpreter and pandas load: one thread each for OpenBLAS and numexpr, or the
        // zygote would be multi-threaded and could not fork safely.
        for name in ["OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"] {
            setenv(name, "1", 1)
        }
        var message = [CChar](repeating: 0, count: 512)
        guard pyhost_python_initialize("/usr/bin/python3", &message, message.count) == 0 else {
            throw StartError(
                description:
                    "Python did not start: \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        guard let runtimeDirectory else { return ("?", "?") }
        guard pyhost_python_run("import sys; sys.path.insert(0, \(pythonLiteral(runtimeDirectory)))") == 0,
            pyhost_python_run("import pyhost_runtime.zygote; pyhost_runtime.zygote.prepare()") == 0
        else {
            throw StartError(description: "the Python runtime in \(runtimeDirectory) did not load (see above)")
        }
        return try interpreterVersions()
    }

    private static func interpreterVersions() throws -> (python: String, pandas: String) {
        guard let raw = pyhost_python_call_str("pyhost_runtime.zygote", "versions") else {
            throw StartError(description: "the Python runtime did not report its versions (see above)")
        }
        defer { free(raw) }
        let parts = String(cString: raw).split(separator: " ").map(String.init)
        return (parts.first ?? "?", parts.dropFirst().first ?? "?")
    }

    /// Waits on the control socket and on each live worker's pidfd.
    /// `checked`: after each fork, the zygote exits if it has a thread or a child it did not make
    /// (an environment's packages may have registered fork hooks that start them).
    private static func serve(_ control: ControlSocket, confinement: ZygoteConfinement, identityOffset: Int, checked: Bool) throws {
        let zygote = try systemCall("pidfd_open(self)") { pyhost_pidfd_open(getpid()) }
        var workers: [Int32: (pid: Int32, id: UInt64)] = [:]  // by pidfd
        var slots: [Int32: Int] = [:]  // pidfd → identity slot, the lowest free one at its fork
        defer { stopAll(workers) }
        while true {
            var polled = [pollfd(fd: control.fd, events: Int16(POLLIN), revents: 0)]
            polled += workers.keys.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            try systemCall("poll") { poll(&polled, nfds_t(polled.count), -1) }
            for entry in polled.dropFirst() where entry.revents != 0 {
                guard let (pid, id) = workers.removeValue(forKey: entry.fd) else { continue }
                slots[entry.fd] = nil
                try reap(id: id, pid: pid, pidfd: entry.fd, control: control)
            }
            if polled[0].revents != 0 {
                guard let (request, fds) = try control.receive(ZygoteRequest.self) else { return }
                fds.forEach { _ = close($0) }
                switch request {
                case .spawn(let id, let limits):
                    let used = Set(slots.values)
                    let slot = (0...).first { !used.contains($0) }!
                    let setup = { (channel: Int32) in
                        WorkerProcess.Setup(
                            channel: channel, zygote: zygote, limits: limits,
                            identity: confinement.workerIdentity(slot: slot + identityOffset),
                            privateMounts: confinement.active.contains(.privateTmp))
                    }
                    if let (pid, pidfd) = try spawn(id: id, namespaces: confinement.workerNamespaces, setup: setup, control: control) {
                        workers[pidfd] = (pid, id)
                        slots[pidfd] = slot
                    }
                    if checked, let stray = ZygoteEnvironment.strayProcesses(workers: Set(workers.values.map(\.pid))) {
                        printToStandardError("pyhost zygote: \(stray); stopping")
                        exit(1)
                    }
                case .identityMapped:
                    continue
                }
            }
        }
    }

    private static func spawn(
        id: UInt64, namespaces: UInt, setup: (Int32) -> WorkerProcess.Setup, control: ControlSocket
    ) throws -> (Int32, Int32)? {
        var pair: [Int32] = [0, 0]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &pair) == 0 else {
            try control.send(ZygoteEvent.spawnFailed(id: id, message: "socketpair: errno \(errno)"))
            return nil
        }
        pyhost_python_before_fork()
        let pid = namespaces == 0 ? pyhost_fork() : pyhost_clone_process(namespaces)
        if pid == 0 {
            pyhost_python_after_fork_child()
            WorkerProcess.run(setup(pair[1]))
        }
        let forkErrno = errno
        pyhost_python_after_fork_parent()
        close(pair[1])
        defer { close(pair[0]) }
        guard pid > 0 else {
            try control.send(ZygoteEvent.spawnFailed(id: id, message: "\(SystemCallError(call: "fork", errno: forkErrno))"))
            return nil
        }
        let pidfd = pyhost_pidfd_open(pid)
        guard pidfd >= 0 else {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            try control.send(ZygoteEvent.spawnFailed(id: id, message: "pidfd_open: errno \(errno)"))
            return nil
        }
        // SCM_RIGHTS duplicates both descriptors into the server; the zygote keeps its pidfd to reap.
        try control.send(ZygoteEvent.spawned(id: id, pid: pid), fds: [pair[0], pidfd])
        return (pid, pidfd)
    }

    private static func reap(id: UInt64, pid: Int32, pidfd: Int32, control: ControlSocket) throws {
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, WNOHANG)
        close(pidfd)
        guard reaped == pid else { return }
        try control.send(ZygoteEvent.exited(id: id, pid: pid, exit: WorkerExit(waitStatus: status)))
    }

    private static func stopAll(_ workers: [Int32: (pid: Int32, id: UInt64)]) {
        for (pidfd, (pid, _)) in workers {
            _ = pyhost_pidfd_send_signal(pidfd, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}
