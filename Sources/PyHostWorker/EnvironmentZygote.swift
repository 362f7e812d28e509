import CPyHostShims
import Foundation
import PyHostWire

#if canImport(Glibc)
    import Glibc
#endif

extension ZygoteEnvironment {
    /// Where the environment's packages and the runtime appear inside the zygote's root.
    static let sitePackages = "/pyhost/environment"
    static let runtime = "/pyhost/runtime"

    func binds(runtimeDirectory: String) -> [ReadOnlyRoot.Bind] {
        [
            ReadOnlyRoot.Bind(source: directory, target: Self.sitePackages),
            ReadOnlyRoot.Bind(source: runtimeDirectory, target: Self.runtime),
        ]
    }

    /// Moves the zygote into a PID namespace of its own, with a /proc of its own: its packages'
    /// import code sees no host process (the server's command line above all). The process the
    /// server started stays outside as a wrapper that holds nothing and waits; the zygote goes on
    /// in its child, pid 1 of the namespace, and dies with it.
    static func enterPIDNamespace() throws {
        try systemCall("unshare(pid)") { pyhost_unshare(Int32(PYHOST_CLONE_NEWPID)) }
        pyhost_python_before_fork()
        let child = pyhost_fork()
        guard child >= 0 else { throw SystemCallError(call: "fork", errno: errno) }
        if child > 0 {
            pyhost_python_after_fork_parent()
            close(Zygote.controlFD)
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            switch WorkerExit(waitStatus: status) {
            case .exited(let code): _exit(code)
            case .killed(let signal): _exit(128 + signal)
            }
        }
        pyhost_python_after_fork_child()
        try systemCall("prctl(PR_SET_PDEATHSIG)") { pyhost_set_parent_death_signal(SIGKILL) }
        try ReadOnlyRoot.mountCall("proc", "/proc", "proc", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC))
        try ReadOnlyRoot.mask(ReadOnlyRoot.maskedProcFiles)
    }

    /// Why the zygote must stop, when it has another thread, or a child that is none of `workers`.
    static func strayProcesses(workers: Set<Int32>) -> String? {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        if tasks.count != 1 { return "\(tasks.count - 1) threads are running" }
        let stray = childProcesses(of: "self", thread: tasks[0]).filter { !workers.contains($0) }
        return stray.isEmpty ? nil : "processes \(stray) that are no workers are running"
    }

    /// Confines the zygote further, then imports the runtime, pandas and the environment's modules.
    /// Returns why the import failed, or nil.
    func importPackages(runtime: String, sitePackages: String) throws -> String? {
        try systemCall("prctl(PR_SET_DUMPABLE)") { pyhost_set_dumpable(0) }
        // No more memory than the largest worker may have: its workers inherit the limit and lower it.
        try ResourceLimits.limitAddressSpace(memoryBytes)
        try systemCall("close_range") { pyhost_close_range_from(UInt32(Zygote.controlFD + 1)) }
        try systemCall("prctl(PR_SET_NO_NEW_PRIVS)") { pyhost_set_no_new_privs() }
        try SandboxPolicy.environmentZygote(pid: getpid()).install()
        let modules = self.modules.map(pythonLiteral).joined(separator: ", ")
        // The environment goes after the standard library, before the host's packages: it may
        // replace pandas, never `json`.
        let code = """
            import sys; sys.path.insert(0, \(pythonLiteral(runtime)))
            sys.path.insert(next((i for i, p in enumerate(sys.path) if p.endswith(("dist-packages", "site-packages"))), len(sys.path)), \(pythonLiteral(sitePackages)))
            import pyhost_runtime.zygote; pyhost_runtime.zygote.prepare_environment([\(modules)])
            """
        guard pyhost_python_run(code) == 0 else { return "the runtime did not load in the environment's zygote" }
        guard let raw = pyhost_python_call_str("pyhost_runtime.zygote", "environment_failure") else {
            return "the environment's zygote could not report how its import went"
        }
        defer { free(raw) }
        let failure = String(cString: raw)
        return failure.isEmpty ? nil : failure
    }
}

/// `text` as a Python string literal.
func pythonLiteral(_ text: String) -> String {
    "'"
        + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
        .replacingOccurrences(of: "\n", with: "\\n") + "'"
}
