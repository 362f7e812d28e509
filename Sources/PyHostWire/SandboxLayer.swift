/// The confinement steps every worker goes through, in order (see `WorkerProcess.confine`).
public enum SandboxLayer: String, CaseIterable, Sendable {
    case parentDeathSignal = "parent_death_signal"
    case closedDescriptors = "closed_descriptors"
    case noCoreDumps = "no_core_dumps"
    case notDumpable = "not_dumpable"
    case scrubbedEnvironment = "scrubbed_environment"
    case noNewPrivileges = "no_new_privs"
    case seccomp = "seccomp"
}
