#if canImport(Glibc)
    import Glibc
#endif

/// How a worker process ended, decoded from its wait status.
public enum WorkerExit: Codable, Sendable, Equatable {
    case exited(code: Int32)
    case killed(signal: Int32)

    /// Decodes a `waitpid` status.
    public init(waitStatus status: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import.
        if status & 0x7f == 0 {
            self = .exited(code: (status >> 8) & 0xff)
        } else {
            self = .killed(signal: status & 0x7f)
        }
    }

    /// The code a worker exits with when it cannot confine itself; it writes why to the zygote's
    /// stderr, which the server logs.
    public static let sandboxSetupFailed: Int32 = 70

    /// A sentence for the error body: what ended the worker, and what that usually means.
    public var explanation: String {
        switch self {
        case .exited(Self.sandboxSetupFailed):
            return "the worker's sandbox could not be set up; the server's log says why"
        case .exited(let code):
            return "the worker exited with code \(code)"
        case .killed(let signal):
            let name = Self.signalName(signal)
            switch signal {
            case SIGSYS: return "the worker was killed by \(name): it made a system call the sandbox forbids"
            case SIGKILL: return "the worker was killed by \(name) (a resource limit, or the host stopping it)"
            case SIGSEGV: return "the worker was killed by \(name): a native extension crashed"
            default: return "the worker was killed by \(name)"
            }
        }
    }

    public static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [
            SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
            SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
            SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
            SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ", SIGSYS: "SIGSYS",
        ]
        return names[signal] ?? "signal \(signal)"
    }
}
