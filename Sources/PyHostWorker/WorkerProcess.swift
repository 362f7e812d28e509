import CPyHostShims
import PyHostWire

#if canImport(Glibc)
    import Glibc
#endif

/// The forked child's side: confine the process, then hand the channel to the Python runtime.
enum WorkerProcess {
    /// The descriptor the channel ends up on; every other descriptor is closed.
    static let channelFD: Int32 = 3

    struct Setup {
        let channel: Int32
        /// A pidfd of the zygote: readable once it has exited.
        let zygote: Int32
        let limits: WorkerLimits
        /// The uid and gid to drop to; nil when none is available (a weaker sandbox).
        let identity: UInt32?
        /// Whether the worker has its own mount and PID namespaces (for /proc and /tmp).
        let privateMounts: Bool
    }

    /// Runs in the child right after the fork and `PyOS_AfterFork_Child`. Never returns.
    static func run(_ setup: Setup) -> Never {
        do {
            try confine(setup)
            // Only now, so that a failed step above still reaches the server's log through the
            // zygote's stderr pipe: the handler gets /dev/null as fds 0-2, nothing of the host.
            try detachStandardStreams()
        } catch {
            printToStandardError("pyhost worker: sandbox setup failed: \(error)")
            _exit(WorkerExit.sandboxSetupFailed)
        }
        let status = pyhost_python_call_with_fd("pyhost_runtime.worker", "serve", channelFD)
        fflush(nil)
        _exit(status)
    }

    /// The confinement sequence, in nsjail's order. Each step says why it sits where it does.
    private static func confine(_ setup: Setup) throws {
        // A session of its own: no signal to the zygote's process group reaches it, and kill(0)
        // reaches nothing else.
        _ = setsid()
        if setup.privateMounts {
            // Its own /proc shows only its own PID namespace; its own /tmp is the one writable place,
            // bounded, and invisible to every other worker. Mounting needs the namespace's root,
            // so this comes before the identity drop.
            try ReadOnlyRoot.mountCall("proc", "/proc", "proc", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC))
            try ReadOnlyRoot.mask(ReadOnlyRoot.maskedProcFiles)
            try ReadOnlyRoot.mountCall(
                "tmpfs", "/tmp", "tmpfs", UInt(MS_NOSUID | MS_NODEV),
                "size=\(setup.limits.fileBytes),mode=1777")
        }
        // Drop identity: from uid 0 of the namespace to an unprivileged uid, which clears every
        // capability (setresuid from 0 to non-zero, without keepcaps).
        if let identity = setup.identity {
            try systemCall("setresgid") { pyhost_set_gid(identity) }
            try systemCall("setgroups") { setgroups(0, nil) }
            try systemCall("setresuid") { pyhost_set_uid(identity) }
        }
        // Die with the zygote. This follows the identity drop, which clears the setting; if the
        // zygote died before this line, its pidfd is already readable.
        try systemCall("prctl(PR_SET_PDEATHSIG)") { pyhost_set_parent_death_signal(SIGKILL) }
        var zygote = pollfd(fd: setup.zygote, events: Int16(POLLIN), revents: 0)
        if poll(&zygote, 1, 0) != 0 { _exit(0) }
        try ResourceLimits.apply(setup.limits)
        // The channel moves to fd 3 (over the zygote's control socket, which the worker must not
        // keep), then every other inherited descriptor is closed, the zygote's pidfd included.
        try systemCall("dup2") { dup2(setup.channel, channelFD) }
        try systemCall("close_range") { pyhost_close_range_from(UInt32(channelFD + 1)) }
        // Not dumpable: no sibling can ptrace this process or read its /proc/PID/mem.
        try systemCall("prctl(PR_SET_DUMPABLE)") { pyhost_set_dumpable(0) }
        // A full /tmp or a file over RLIMIT_FSIZE, or a write to a closed channel, is an error the
        // handler sees (EFBIG, ENOSPC, EPIPE), not a signal that kills the worker.
        signal(SIGXFSZ, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        // The server's environment is not the handler's business (the runtime clears os.environ too).
        try systemCall("clearenv") { clearenv() }
        // A trapped syscall is reported on the channel before the worker exits.
        try systemCall("sigaction(SIGSYS)") { pyhost_report_seccomp_violations(channelFD) }
        // no_new_privs is what allows a filter without CAP_SYS_ADMIN, and keeps it for good.
        try systemCall("prctl(PR_SET_NO_NEW_PRIVS)") { pyhost_set_no_new_privs() }
        // seccomp last: every step above needs calls the filter forbids.
        try SandboxPolicy.worker(pid: getpid()).install()
    }
}

extension WorkerProcess {
    /// Points fds 0, 1 and 2 at /dev/null. A handler's `print` goes to its invocation's logs
    /// through `capture.py`, not through these descriptors.
    static func detachStandardStreams() throws {
        let null = try systemCall("open(/dev/null)") { open("/dev/null", O_RDWR | O_CLOEXEC) }
        defer { close(null) }
        for fd in Int32(0)...2 {
            try systemCall("dup2(/dev/null)") { dup2(null, fd) }
        }
    }
}

/// Writes a line to fd 2 directly: the zygote and workers have no logger of their own.
func printToStandardError(_ line: String) {
    var bytes = Array((line + "\n").utf8)
    _ = write(2, &bytes, bytes.count)
}
