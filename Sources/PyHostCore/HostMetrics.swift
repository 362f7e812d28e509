import Metrics
import Synchronization
import PyHostWire

/// The host's own metrics, through swift-metrics (the server exports them in Prometheus format).
enum HostMetrics {
    /// A worker started because calls were waiting for one: the cost users feel as a cold start.
    static func coldStart(_ key: FunctionKey) {
        Counter(label: "pyhost_cold_starts_total", dimensions: [("function", key.name)]).increment()
    }

    /// A worker ended while serving, and how: `deadline`, `sandbox_violation`, `protocol_violation`, `exit`, a signal
    /// name such as `sigsegv`, or `zygote`.
    static func workerDeath(cause: String) {
        Counter(label: "pyhost_worker_deaths_total", dimensions: [("cause", cause)]).increment()
    }

    /// The pool's sizes, in all and per function, set when metrics are read. A function that has
    /// no worker and no waiting call any more (idle, or deleted) reads 0 rather than its last value.
    static func record(_ counts: WorkerPool.Counts, byFunction: [String: WorkerPool.Counts], spares: Int) {
        for (state, value) in [("live", counts.live), ("idle", counts.idle), ("busy", counts.busy), ("spare", spares)] {
            Gauge(label: "pyhost_workers", dimensions: [("state", state)]).record(value)
        }
        Gauge(label: "pyhost_queue_depth").record(counts.waiting)
        let empty = WorkerPool.Counts(live: 0, idle: 0, busy: 0, waiting: 0)
        let names = reported.withLock { reported in
            defer { reported = Set(byFunction.keys) }
            return reported.union(byFunction.keys)
        }
        for name in names {
            let function = byFunction[name] ?? empty
            for (state, value) in [("live", function.live), ("idle", function.idle), ("busy", function.busy)] {
                Gauge(label: "pyhost_function_workers", dimensions: [("function", name), ("state", state)]).record(value)
            }
            Gauge(label: "pyhost_function_queue_depth", dimensions: [("function", name)]).record(function.waiting)
        }
    }

    /// One run of the package installer, resolving or reinstalling.
    static func install(seconds: Double) {
        Timer(label: "pyhost_install_duration_seconds").recordSeconds(seconds)
    }

    /// The package environments on disk and their running zygotes, set when metrics are read.
    static func record(environments: Int, zygotes: Int) {
        Gauge(label: "pyhost_environments").record(environments)
        Gauge(label: "pyhost_environment_zygotes").record(zygotes)
    }

    /// The functions whose gauges the last `record` set.
    private static let reported = Mutex<Set<String>>([])
}

extension WorkerExit {
    /// A short label for metrics: `exit`, or the signal's name in lower case.
    public var metricLabel: String {
        switch self {
        case .exited(Self.sandboxSetupFailed): return "sandbox_setup"
        case .exited: return "exit"
        case .killed(let signal): return WorkerExit.signalName(signal).lowercased().replacingOccurrences(of: " ", with: "_")
        }
    }
}
