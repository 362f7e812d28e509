import Metrics
import Prometheus

/// Routes swift-metrics into a Prometheus registry under the names and HELP texts of `families`,
/// so every family /metrics exports says what it measures and carries its unit in its name.
struct DocumentedMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    private let defaults: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        self.defaults = PrometheusMetricsFactory(registry: registry)
    }

    /// Every family, by the label the code records it under (pyhost's own, then Hummingbird's):
    /// the name /metrics exports it as, and what it measures.
    static let families: [String: (name: String, help: String)] = [
        "pyhost_invocations_total": ("pyhost_invocations_total", "Invocations answered, by function and HTTP status."),
        "pyhost_invocation_duration_seconds": (
            "pyhost_invocation_duration_seconds", "Time from a call's arrival to its answer, by function."
        ),
        "pyhost_cold_starts_total": (
            "pyhost_cold_starts_total", "Workers started because calls were waiting for one, by function."
        ),
        "pyhost_worker_deaths_total": ("pyhost_worker_deaths_total", "Workers that ended while serving a call, by cause."),
        "pyhost_workers": (
            "pyhost_workers", "Workers by state: live, idle and busy in the pool; spare, forked and warmed in advance."
        ),
        "pyhost_queue_depth": ("pyhost_queue_depth", "Calls waiting for a worker."),
        "pyhost_function_workers": (
            "pyhost_function_workers", "A function's workers by state (live, idle, busy), across its versions."
        ),
        "pyhost_function_queue_depth": ("pyhost_function_queue_depth", "A function's calls waiting for a worker."),
        "pyhost_key_invocations_total": ("pyhost_key_invocations_total", "Calls let through with an invoker key, by key id."),
        "pyhost_rate_limited_total": (
            "pyhost_rate_limited_total", "Calls refused by a rate limit, by function and key id (empty for the function's own limit)."
        ),
        "pyhost_install_duration_seconds": (
            "pyhost_install_duration_seconds", "Time to resolve and install a module's # /// script requirements."
        ),
        "pyhost_environments": ("pyhost_environments", "Package environments installed on this node."),
        "pyhost_environment_zygotes": ("pyhost_environment_zygotes", "Zygotes running for package environments."),
        "hb.requests": ("http_server_requests_total", "HTTP requests answered, by route, method and status."),
        "http.server.request.duration": (
            "http_server_request_duration_seconds", "Time to answer an HTTP request, by route, method and status."
        ),
        "hb.request.errors": (
            "http_server_request_errors_total", "HTTP requests that failed without a JSON error answer, by route and method."
        ),
        "http.server.active_requests": ("http_server_active_requests", "HTTP requests being answered, by method."),
    ]

    private func family(_ label: String) -> MetricNameDescriptor {
        let family = Self.families[label] ?? (label, "")
        return MetricNameDescriptor(metricName: family.name, unitName: "", helpText: family.help)
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: family(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: family(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: family(label), labels: dimensions) }
        return registry.makeValueHistogram(
            descriptor: family(label), labels: dimensions, buckets: defaults.defaultValueHistogramBuckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: family(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            descriptor: family(label), labels: dimensions, buckets: defaults.defaultDurationHistogramBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) { defaults.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { defaults.destroyFloatingPointCounter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { defaults.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { defaults.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { defaults.destroyTimer(handler) }
}
