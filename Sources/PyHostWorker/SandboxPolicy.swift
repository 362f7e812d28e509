import CPyHostShims
import PyHostWire

#if canImport(Glibc)
import Glibc
#endif

/// The seccomp filter a worker installs last, after every other confinement step.
///
/// Forbidden calls fail with EPERM (ENOSYS for `clone3`, so glibc falls back to `clone`, whose flags
/// the filter can read): a handler that tries them gets a Python `PermissionError` it can report,
/// instead of a worker killed mid-call.
public struct SandboxPolicy: Sendable {
    public enum Condition: Sendable {
        case always
        /// The argument has any of these bits set.
        case anyBit(argument: UInt32, mask: UInt64)
        /// The argument has none of these bits set.
        case noBit(argument: UInt32, mask: UInt64)
        case notEqual(argument: UInt32, value: UInt64)
    }

    public struct Rule: Sendable {
        public let syscall: String
        public let errno: Int32
        public let condition: Condition
    }

    public let rules: [Rule]

    /// CLONE_THREAD from <linux/sched.h>, which Glibc's module does not export.
    static let cloneThread: UInt64 = 0x0001_0000

    /// The worker's policy. `pid` is the worker's own: it may signal itself and no one else.
    public static func worker(pid: Int32) -> SandboxPolicy {
        let writeFlags = UInt64(O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)
        var rules: [Rule] = []
        func deny(_ names: [String], _ errno: Int32 = EPERM, when condition: Condition = .always) {
            rules += names.map { Rule(syscall: $0, errno: errno, condition: condition) }
        }
        // No new processes or programs. Threads (clone with CLONE_THREAD) stay possible.
        deny(["fork", "vfork", "execve", "execveat"])
        deny(["clone"], when: .noBit(argument: 0, mask: cloneThread))
        deny(["clone3"], ENOSYS)
        // No new sockets: the channel to the server is the only one.
        deny(["socket", "socketpair", "connect", "bind", "listen", "accept", "accept4"])
        // Files open for reading only; nothing on disk changes.
        deny(["open"], when: .anyBit(argument: 1, mask: writeFlags))
        deny(["openat"], when: .anyBit(argument: 2, mask: writeFlags))
        deny(["openat2"], ENOSYS)
        deny([
            "creat", "open_by_handle_at", "name_to_handle_at", "truncate", "unlink", "unlinkat", "rename",
            "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "link", "linkat", "symlink", "symlinkat",
            "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat", "mknod", "mknodat",
        ])
        // Signals only to itself; no reaching into other processes.
        deny(["kill", "tgkill"], when: .notEqual(argument: 0, value: UInt64(UInt32(bitPattern: pid))))
        deny(["tkill", "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "ptrace", "process_vm_readv",
              "process_vm_writev"])
        // Kernel surfaces a handler has no use for.
        deny([
            "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "bpf", "perf_event_open", "keyctl",
            "add_key", "request_key", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
            "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon",
            "swapoff", "syslog", "acct", "settimeofday", "clock_settime", "sethostname", "setdomainname",
            "iopl", "ioperm", "quotactl",
        ])
        return SandboxPolicy(rules: rules)
    }

    /// Loads the filter into the calling process. Irreversible.
    /// - Throws: `SystemCallError` when libseccomp refuses a rule or the kernel the filter.
    public func install() throws {
        guard let filter = pyhost_seccomp_create(UInt32(PYHOST_SECCOMP_ALLOW)) else {
            throw SystemCallError(call: "seccomp_init", errno: ENOMEM)
        }
        defer { pyhost_seccomp_release(filter) }
        for rule in rules {
            let number = pyhost_seccomp_syscall(rule.syscall)
            guard number >= 0 else { continue }  // not on this architecture
            let action = pyhost_seccomp_errno(rule.errno)
            let result: Int32
            switch rule.condition {
            case .always: result = pyhost_seccomp_add(filter, action, number)
            case .anyBit(let argument, let mask):
                result = pyhost_seccomp_add_masked_nonzero(filter, action, number, argument, mask)
            case .noBit(let argument, let mask):
                result = pyhost_seccomp_add_masked_zero(filter, action, number, argument, mask)
            case .notEqual(let argument, let value):
                result = pyhost_seccomp_add_not_equal(filter, action, number, argument, value)
            }
            if result != 0 { throw SystemCallError(call: "seccomp_rule_add(\(rule.syscall))", errno: -result) }
        }
        let loaded = pyhost_seccomp_load(filter)
        if loaded != 0 { throw SystemCallError(call: "seccomp_load", errno: -loaded) }
    }
}
