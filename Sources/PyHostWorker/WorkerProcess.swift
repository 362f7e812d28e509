import CPyHostShims
import PyHostWire

#if canImport(Glibc)
import Glibc
#endif

/// The forked child's side: confine the process, then hand the channel to the Python runtime.
enum WorkerProcess {
    /// The descriptor the channel ends up on; every other descriptor is closed.
    static let channelFD: Int32 = 3

    /// Runs in the child right after `fork` and `PyOS_AfterFork_Child`. Never returns.
    static func run(channel: Int32, zygotePID: Int32) -> Never {
        do {
            try confine(channel: channel, zygotePID: zygotePID)
        } catch {
            printToStandardError("pyhost worker: sandbox setup failed: \(error)")
            _exit(70)
        }
        let status = pyhost_python_call_with_fd("pyhost_runtime.worker", "serve", channelFD)
        fflush(nil)
        _exit(status)
    }

    /// The confinement sequence, in order. Each step says why it sits where it does.
    private static func confine(channel: Int32, zygotePID: Int32) throws {
        // Die with the zygote; if it already died between fork and here, stop now.
        try systemCall("prctl(PR_SET_PDEATHSIG)") { pyhost_set_parent_death_signal(SIGKILL) }
        if getppid() != zygotePID { _exit(0) }
        // The channel moves to fd 3 (over the zygote's control socket, which the worker must not
        // keep), then every other inherited descriptor is closed.
        try systemCall("dup2") { dup2(channel, channelFD) }
        try systemCall("close_range") { pyhost_close_range_from(UInt32(channelFD + 1)) }
        var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
        try systemCall("setrlimit(RLIMIT_CORE)") { setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore) }
        // Not dumpable: no sibling can ptrace this process or read its /proc/PID/mem.
        try systemCall("prctl(PR_SET_DUMPABLE)") { pyhost_set_dumpable(0) }
        // The server's environment is not the handler's business (the runtime clears os.environ too).
        try systemCall("clearenv") { clearenv() }
        // no_new_privs is what allows an unprivileged seccomp filter, and keeps it for good.
        try systemCall("prctl(PR_SET_NO_NEW_PRIVS)") { pyhost_set_no_new_privs() }
        // seccomp last: every step above needs calls the filter forbids.
        try SandboxPolicy.worker(pid: getpid()).install()
    }
}

/// Writes a line to fd 2 directly: the zygote and workers have no logger of their own.
func printToStandardError(_ line: String) {
    var bytes = Array((line + "\n").utf8)
    _ = write(2, &bytes, bytes.count)
}
