import Metrics
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

    /// The pool's sizes, set when metrics are read.
    static func record(_ counts: WorkerPool.Counts, spares: Int) {
        for (state, value) in [("live", counts.live), ("idle", counts.idle), ("busy", counts.busy), ("spare", spares)] {
            Gauge(label: "pyhost_workers", dimensions: [("state", state)]).record(value)
        }
        Gauge(label: "pyhost_queue_depth").record(counts.waiting)
    }
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
