import CPyHostShims
import PyHostWire

#if canImport(Glibc)
    import Glibc
#endif

/// The seccomp filter a worker installs last, after every other confinement step: a default-deny
/// allow-list of what CPython, numpy and pandas use.
///
/// Three outcomes:
/// - allowed calls run, subject to the other layers (a write outside `/tmp` still fails with EROFS);
/// - calls a handler may plausibly try (fork, exec, sockets, signalling others) fail with EPERM,
///   so the handler gets a `PermissionError` it can report and the worker stays usable;
/// - anything else traps: the worker reports the syscall on its channel and exits, and the call
///   gets a 502 naming it. An unknown call is an attack or a gap in this list; either way the
///   worker must not carry on.
public struct SandboxPolicy: Sendable {
    public enum Condition: Sendable {
        case always
        /// The argument has none of these bits set.
        case noBit(argument: UInt32, mask: UInt64)
        /// The argument has any of these bits set.
        case anyBit(argument: UInt32, mask: UInt64)
        case notEqual(argument: UInt32, value: UInt64)
        case equal(argument: UInt32, value: UInt64)
        /// Every comparison holds; each names a different argument.
        case all([Comparison])
    }

    public enum Comparison: Sendable {
        case equal(argument: UInt32, value: UInt64)
        case notEqual(argument: UInt32, value: UInt64)
        /// The argument's low 32 bits equal `value`: the kernel reads an `int` there and ignores
        /// the high bits, which a plain comparison would not.
        case lowWordEqual(argument: UInt32, value: UInt32)
    }

    public enum Action: Sendable, Equatable {
        case allow
        case fail(errno: Int32)
    }

    public struct Rule: Sendable {
        public let syscall: String
        public let action: Action
        public let condition: Condition
    }

    public let rules: [Rule]

    /// CLONE_THREAD from <linux/sched.h>, which Glibc's module does not export.
    static let cloneThread = UInt64(PYHOST_CLONE_THREAD)

    /// Calls a Python process with numpy and pandas makes in normal work, allowed unconditionally.
    static let allowed = [
        // memory
        "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "membarrier",
        // files: the mounts make everything but /tmp read-only
        "read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64", "pwritev", "pwritev2",
        "open", "openat", "close", "close_range", "lseek", "fstat", "stat", "lstat", "newfstatat", "statx",
        "fstatfs", "statfs", "getdents64", "getdents", "readlink", "readlinkat", "access", "faccessat",
        "faccessat2", "fsync", "fdatasync", "ftruncate", "fadvise64", "dup", "dup2", "dup3",
        "pipe", "pipe2", "getcwd", "chdir", "fchdir", "umask", "unlink", "unlinkat", "rename", "renameat",
        "renameat2", "mkdir", "mkdirat", "rmdir", "utimensat", "copy_file_range", "sendfile",
        // waiting and time
        "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
        "epoll_pwait", "eventfd2", "futex", "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres",
        "gettimeofday", "time", "sched_yield", "sched_getaffinity", "sched_getparam", "sched_getscheduler",
        "getitimer", "setitimer", "alarm", "timer_create", "timer_settime", "timer_gettime", "timer_delete",
        "timerfd_create", "timerfd_settime", "timerfd_gettime",
        // signals (sending is restricted below)
        "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend",
        "sigaltstack", "pause", "restart_syscall",
        // identity and limits, read-only
        "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
        "getgroups", "getpgrp", "getpgid", "getsid", "getrlimit", "getrusage", "times", "sysinfo", "uname",
        "getrandom", "getcpu",
        // threads and exit
        "set_robust_list", "get_robust_list", "set_tid_address", "rseq", "arch_prctl", "exit", "exit_group",
        // the channel to the server is a connected socket
        "recvfrom", "recvmsg", "sendto", "sendmsg", "shutdown", "getsockopt", "getsockname", "getpeername",
    ]

    /// Calls that fail with EPERM: what a handler may try, and should be told it cannot do.
    static let refused = [
        "fork", "vfork", "execve", "execveat", "socket", "socketpair", "connect", "bind", "listen", "accept",
        "accept4", "ptrace", "process_vm_readv", "process_vm_writev", "tkill", "pidfd_open", "pidfd_send_signal",
        "pidfd_getfd", "setrlimit", "prlimit64", "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown",
        "fchownat", "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat", "truncate", "creat",
        // memory outside the address space limit; a lock on a readable host file blocks the host
        "memfd_create", "flock",
    ]

    /// fcntl commands a handler may use: descriptor flags, duplication, pipe sizes, seals.
    static let fcntlAllowed: [Int32] = [
        F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GETLK, 1030 /* F_DUPFD_CLOEXEC */, 1032 /* F_GETPIPE_SZ */,
        1034, /* F_GET_SEALS */
    ]
    /// fcntl commands refused with EPERM: record locks and leases, which on a file the host can also
    /// open would hold up host processes. Every other command traps.
    static let fcntlRefused: [Int32] = [
        F_SETLK, F_SETLKW, 37 /* F_OFD_SETLK */, 38 /* F_OFD_SETLKW */, 1024 /* F_SETLEASE */, 1026, /* F_NOTIFY */
    ]

    /// The worker's policy. `pid` is the worker's own: it may signal itself and no one else.
    public static func worker(pid: Int32) -> SandboxPolicy {
        var rules = allowed.map { Rule(syscall: $0, action: .allow, condition: .always) }
        rules += refused.map { Rule(syscall: $0, action: .fail(errno: EPERM), condition: .always) }
        let ownPID = UInt64(UInt32(bitPattern: pid))
        rules += [
            // Threads, but no processes: clone without CLONE_THREAD is a fork.
            Rule(syscall: "clone", action: .allow, condition: .anyBit(argument: 0, mask: cloneThread)),
            Rule(syscall: "clone", action: .fail(errno: EPERM), condition: .noBit(argument: 0, mask: cloneThread)),
            // clone3 passes its flags in memory the filter cannot read; ENOSYS sends glibc to clone.
            Rule(syscall: "clone3", action: .fail(errno: ENOSYS), condition: .always),
            Rule(syscall: "openat2", action: .fail(errno: ENOSYS), condition: .always),
            // Rules for one syscall never overlap: libseccomp does not order overlapping conditions.
            Rule(syscall: "kill", action: .allow, condition: .equal(argument: 0, value: ownPID)),
            Rule(syscall: "kill", action: .fail(errno: EPERM), condition: .notEqual(argument: 0, value: ownPID)),
            Rule(syscall: "tgkill", action: .allow, condition: .equal(argument: 0, value: ownPID)),
            Rule(syscall: "tgkill", action: .fail(errno: EPERM), condition: .notEqual(argument: 0, value: ownPID)),
        ]
        // A SIGSYS handler of the handler's own would make a trapped call survivable: only the
        // worker's reporter, installed before the filter, handles it. Queries stay allowed. Every
        // rule compares both arguments: libseccomp mis-orders rules of different shapes.
        for signal in UInt32(1)...64 {
            let installs = signal == UInt32(SIGSYS) ? Action.fail(errno: EPERM) : .allow
            rules += [
                Rule(
                    syscall: "rt_sigaction", action: .allow,
                    condition: .all([.lowWordEqual(argument: 0, value: signal), .equal(argument: 1, value: 0)])),
                Rule(
                    syscall: "rt_sigaction", action: installs,
                    condition: .all([.lowWordEqual(argument: 0, value: signal), .notEqual(argument: 1, value: 0)])),
            ]
        }
        rules += fcntlAllowed.map { Rule(syscall: "fcntl", action: .allow, condition: .equal(argument: 1, value: UInt64($0))) }
        rules += fcntlRefused.map { Rule(syscall: "fcntl", action: .fail(errno: EPERM), condition: .equal(argument: 1, value: UInt64($0))) }
        rules += [
            // ioctl: the terminal query behind isatty() only.
            Rule(syscall: "ioctl", action: .allow, condition: .equal(argument: 1, value: UInt64(TCGETS))),
            Rule(syscall: "ioctl", action: .fail(errno: ENOTTY), condition: .notEqual(argument: 1, value: UInt64(TCGETS))),
            // prctl: naming threads only.
            Rule(syscall: "prctl", action: .allow, condition: .equal(argument: 0, value: UInt64(PYHOST_PR_SET_NAME))),
            Rule(syscall: "prctl", action: .fail(errno: EPERM), condition: .notEqual(argument: 0, value: UInt64(PYHOST_PR_SET_NAME))),
        ]
        return SandboxPolicy(rules: rules)
    }

    /// Calls an environment's zygote needs beyond a worker's: to fork a worker into namespaces of
    /// its own, reap it, and let the child confine itself (mounts, identity, limits, its filter).
    static let forking = [
        "socketpair", "pidfd_open", "pidfd_send_signal", "wait4", "waitid", "setsid", "setresuid",
        "setresgid", "setgroups", "setrlimit", "prlimit64", "seccomp", "prctl", "rt_sigaction",
    ]

    /// The filter of an environment's zygote, installed before its packages are imported: a
    /// worker's, with `forking` allowed, clone allowed for threads and for processes in a new PID
    /// namespace, which is how the zygote forks workers, and mount allowed but for moves and remounts. Plain fork, vfork and posix_spawn
    /// fail with EPERM, as in a worker; each worker adds its own filter on top of this one.
    public static func environmentZygote(pid: Int32) -> SandboxPolicy {
        let replaced = Set(forking + ["clone", "mount"])
        var rules = worker(pid: pid).rules.filter { !replaced.contains($0.syscall) }
        rules += forking.map { Rule(syscall: $0, action: .allow, condition: .always) }
        let threadOrNewPID = cloneThread | UInt64(PYHOST_CLONE_NEWPID)
        // A worker mounts its /proc and /tmp and binds /dev/null over files; it never moves or
        // remounts, which is how a mount would uncover the host's /proc or make the root writable.
        let moveOrRemount = UInt64(MS_MOVE | MS_REMOUNT)
        rules += [
            Rule(syscall: "mount", action: .allow, condition: .noBit(argument: 3, mask: moveOrRemount)),
            Rule(syscall: "mount", action: .fail(errno: EPERM), condition: .anyBit(argument: 3, mask: moveOrRemount)),
            Rule(syscall: "clone", action: .allow, condition: .anyBit(argument: 0, mask: threadOrNewPID)),
            Rule(syscall: "clone", action: .fail(errno: EPERM), condition: .noBit(argument: 0, mask: threadOrNewPID)),
        ]
        return SandboxPolicy(rules: rules)
    }

    /// Legacy calls that some architectures lack (aarch64 has only their `…at`, `p…` and `…3`
    /// successors): the only names a rule may name without this architecture having them.
    static let absentOnSomeArchitectures: Set<String> = [
        "access", "alarm", "arch_prctl", "chmod", "chown", "creat", "dup2", "epoll_create", "epoll_wait", "fork",
        "getdents", "getpgrp", "lchown", "link", "lstat", "mkdir", "mknod", "open", "pause", "pipe", "poll", "readlink",
        "rename", "rmdir", "select", "stat", "symlink", "time", "unlink", "vfork",
    ]

    /// Each rule with its syscall number on this architecture, leaving out the rules for names in
    /// `absentOnSomeArchitectures` that this architecture lacks.
    /// - Throws: `SystemCallError` for any other name libseccomp cannot resolve: a typo would
    ///   otherwise turn an intended EPERM into a trap, or drop an allowance.
    func resolved() throws -> [(rule: Rule, number: Int32)] {
        try rules.compactMap { rule in
            let number = pyhost_seccomp_syscall(rule.syscall)
            if number >= 0 { return (rule, number) }
            if Self.absentOnSomeArchitectures.contains(rule.syscall) { return nil }
            throw SystemCallError(call: "seccomp_syscall_resolve_name(\(rule.syscall))", errno: EINVAL)
        }
    }

    /// Loads the filter into the calling process. Irreversible.
    /// - Throws: `SystemCallError` when a rule names an unknown syscall, libseccomp refuses a rule
    ///   or the kernel the filter.
    public func install() throws {
        let resolved = try resolved()
        guard let filter = pyhost_seccomp_create(UInt32(PYHOST_SECCOMP_TRAP)) else {
            throw SystemCallError(call: "seccomp_init", errno: ENOMEM)
        }
        defer { pyhost_seccomp_release(filter) }
        for (rule, number) in resolved {
            let action: UInt32
            switch rule.action {
            case .allow: action = UInt32(PYHOST_SECCOMP_ALLOW)
            case .fail(let errno): action = pyhost_seccomp_errno(errno)
            }
            let result: Int32
            switch rule.condition {
            case .always: result = pyhost_seccomp_add(filter, action, number)
            case .anyBit(let argument, let mask):
                result = pyhost_seccomp_add_masked_nonzero(filter, action, number, argument, mask)
            case .noBit(let argument, let mask):
                result = pyhost_seccomp_add_masked_zero(filter, action, number, argument, mask)
            case .notEqual(let argument, let value):
                result = pyhost_seccomp_add_not_equal(filter, action, number, argument, value)
            case .equal(let argument, let value):
                result = pyhost_seccomp_add_equal(filter, action, number, argument, value)
            case .all(let comparisons):
                let converted = comparisons.map(\.shimComparison)
                result = pyhost_seccomp_add_comparisons(filter, action, number, converted, UInt32(converted.count))
            }
            if result != 0 { throw SystemCallError(call: "seccomp_rule_add(\(rule.syscall))", errno: -result) }
        }
        let loaded = pyhost_seccomp_load(filter)
        if loaded != 0 { throw SystemCallError(call: "seccomp_load", errno: -loaded) }
    }
}

extension SandboxPolicy.Comparison {
    var shimComparison: pyhost_seccomp_comparison {
        switch self {
        case .equal(let argument, let value):
            return pyhost_seccomp_comparison(index: argument, operation: Int32(PYHOST_SECCOMP_EQUAL), mask: 0, value: value)
        case .notEqual(let argument, let value):
            return pyhost_seccomp_comparison(index: argument, operation: Int32(PYHOST_SECCOMP_NOT_EQUAL), mask: 0, value: value)
        case .lowWordEqual(let argument, let value):
            return pyhost_seccomp_comparison(
                index: argument, operation: Int32(PYHOST_SECCOMP_MASKED_EQUAL), mask: 0xffff_ffff, value: UInt64(value))
        }
    }
}
