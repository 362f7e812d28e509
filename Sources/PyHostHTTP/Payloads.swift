import Foundation
import PyHostCore

/// The bodies the API returns, in its snake_case.
struct FunctionPayload: Encodable {
    let name: String
    let version: Int
    let sha256: String
    let created_at: String
    let invoke_url: String
    /// The settings deployed with this version; null means the server's default.
    let timeout_seconds: Nullable<Double>
    let memory_mib: Nullable<Int>
    let concurrency: Nullable<Int>
    let min_warm: Int
    /// What its `# /// script` block declared and what it resolved to; null without a block.
    let requirements: Nullable<Requirements>

    init(_ function: FunctionVersion) {
        name = function.name
        version = function.version
        sha256 = function.sha256
        created_at = function.createdAt.iso8601
        invoke_url = "/functions/\(function.name)/invoke"
        timeout_seconds = Nullable(function.timeoutSeconds)
        memory_mib = Nullable(function.memoryMiB)
        concurrency = Nullable(function.concurrency)
        min_warm = function.minWarm
        requirements = Nullable(function.requirements)
    }
}

struct VersionListPayload: Encodable {
    let name: String
    /// The version that serves now.
    let serving: Int
    let versions: [FunctionPayload]
}

struct InvocationPayload: Encodable {
    let invocation_id: String
    /// The node that served the call (`--node-name`).
    let node: String
    let version: Int
    let started_at: String
    let milliseconds: Double
    let status: Int
    let logs: String

    init(_ record: InvocationRecord) {
        invocation_id = record.id
        node = record.node
        version = record.version
        started_at = record.startedAt.iso8601
        milliseconds = (record.milliseconds * 1000).rounded() / 1000
        status = record.status
        logs = record.logs
    }
}

struct InvocationListPayload: Encodable {
    let name: String
    /// Newest first.
    let invocations: [InvocationPayload]
}

struct FunctionListPayload: Encodable {
    let functions: [FunctionPayload]
}

struct FunctionDetailPayload: Encodable {
    let function: FunctionPayload
    let source: String

    init(_ function: FunctionVersion) {
        self.function = FunctionPayload(function)
        source = function.source
    }

    func encode(to encoder: any Encoder) throws {
        try function.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(source, forKey: .source)
    }

    private enum Key: String, CodingKey {
        case source
    }
}

struct HealthPayload: Encodable {
    struct Workers: Encodable {
        let live: Int
        let idle: Int
        let busy: Int
        let waiting_calls: Int
        /// Forked and warmed in advance, not counted in `live`.
        let spare: Int
    }

    let status: String
    let python: String
    let pandas: String
    let workers: Workers
    let sandbox_layers: [String]
    /// Layers this host could not provide (the server runs so only with --allow-weaker-sandbox).
    let missing_sandbox_layers: [String]
    /// `writable`, `read_only` (functions serve; deploys, rollbacks and deletes are refused), or
    /// `unreachable` (a shared store: functions serve as last seen, changes are refused).
    let store: String
    /// Why the status is not `ok`, when the store is the reason.
    let store_problem: String?
    /// Whether configurator routes need the deploy token, so a client asks for it only then.
    let deploy_token_required: Bool

    init(_ health: FunctionHost.Health, deployTokenRequired: Bool) {
        deploy_token_required = deployTokenRequired
        python = health.python
        pandas = health.pandas
        workers = Workers(
            live: health.workers.live, idle: health.workers.idle, busy: health.workers.busy,
            waiting_calls: health.workers.waiting, spare: health.spareWorkers)
        sandbox_layers = health.sandboxLayers
        missing_sandbox_layers = health.allLayers.filter { !health.sandboxLayers.contains($0) }
        store = health.storeProblem != nil ? "unreachable" : health.storeWritable ? "writable" : "read_only"
        store_problem = health.storeProblem
        status =
            !health.zygoteRunning || !health.storeWritable || health.storeProblem != nil
            ? "degraded" : missing_sandbox_layers.isEmpty ? "ok" : "weaker_sandbox"
    }
}

extension Date {
    /// ISO 8601 in UTC with milliseconds, as `created_at` is written.
    /// Rounded to the millisecond as a whole number, so a date read back from the store prints as
    /// the one that was stored (binary fractions would otherwise print one millisecond apart).
    var iso8601: String {
        let milliseconds = Int64((timeIntervalSince1970 * 1000).rounded())
        let (seconds, remainder) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let whole = Date(timeIntervalSince1970: Double(seconds))
            .formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
        return whole.dropLast() + "." + String(remainder).leftPadded(to: 3) + "Z"
    }
}

/// An optional that encodes as `null` instead of disappearing from the object.
struct Nullable<Wrapped: Encodable>: Encodable {
    let value: Wrapped?

    init(_ value: Wrapped?) {
        self.value = value
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - count)) + self
    }
}
