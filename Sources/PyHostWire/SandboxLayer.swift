/// One confinement step. The zygote reports which are active; `GET /healthz` lists them.
public enum SandboxLayer: String, CaseIterable, Codable, Sendable {
    case userNamespace = "user_namespace"
    case mountNamespace = "mount_namespace"
    case readOnlyRoot = "read_only_root"
    case networkNamespace = "network_namespace"
    case ipcNamespace = "ipc_namespace"
    case utsNamespace = "uts_namespace"
    case pidNamespace = "pid_namespace"
    case privateTmp = "private_tmp"
    case unprivilegedIdentity = "unprivileged_identity"
    case resourceLimits = "resource_limits"
    case parentDeathSignal = "parent_death_signal"
    case closedDescriptors = "closed_descriptors"
    case notDumpable = "not_dumpable"
    case scrubbedEnvironment = "scrubbed_environment"
    case noNewPrivileges = "no_new_privs"
    case seccomp = "seccomp"

    /// What an operator can do when the layer cannot be set up on a host.
    public var remedy: String {
        switch self {
        case .userNamespace:
            return
                "enable user namespaces (sysctl -w user.max_user_namespaces=15000; on Debian kernels also kernel.unprivileged_userns_clone=1) and run pyhost as root"
        case .mountNamespace, .readOnlyRoot, .privateTmp, .networkNamespace, .ipcNamespace, .utsNamespace, .pidNamespace:
            return "run on Linux 5.3 or later with namespaces enabled (CONFIG_NAMESPACES), outside a container that forbids unshare"
        case .unprivilegedIdentity:
            return "run pyhost as root in the host's user namespace, so it can map the workers to an unprivileged uid range"
        default:
            return "run on Linux 5.3 or later"
        }
    }
}

/// A layer the zygote could not set up, and why.
public struct MissingLayer: Codable, Sendable, Equatable, CustomStringConvertible {
    public let layer: SandboxLayer
    public let reason: String

    public init(layer: SandboxLayer, reason: String) {
        self.layer = layer
        self.reason = reason
    }

    public var description: String { "\(layer.rawValue) (\(reason)): \(layer.remedy)" }
}

/// Resource limits of one worker, applied with setrlimit after it drops its identity.
public struct WorkerLimits: Codable, Sendable, Equatable {
    /// RLIMIT_AS: the address space, which bounds memory and the threads it can hold.
    public var memoryBytes: UInt64
    /// RLIMIT_CPU over the worker's whole life; a call's deadline is enforced separately.
    public var cpuSeconds: UInt64 = 3600
    public var openFiles: UInt64 = 256
    /// RLIMIT_NPROC for the worker's own identity: threads, since processes are refused anyway.
    public var threads: UInt64 = 512
    /// RLIMIT_FSIZE, and the size of the worker's private /tmp.
    public var fileBytes: UInt64 = 64 * 1024 * 1024

    public init(memoryBytes: UInt64) {
        self.memoryBytes = memoryBytes
    }
}
