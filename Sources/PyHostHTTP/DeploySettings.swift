import Hummingbird
import PyHostCore

/// The per-version settings a deploy takes as query parameters, validated.
enum DeploySettings {
    static let names = ["timeout", "memory", "concurrency", "min_warm", "access"]

    /// The shortest deadline a deploy may set: below it a call could not even reach its worker.
    static let minimumTimeout = 0.01

    /// - Parameter configuration: the operator's limits, which no setting may exceed.
    /// - Throws: `HostError.invalidParameter` for an unknown parameter or a value out of range.
    static func parse(_ query: Parameters, within configuration: HostConfiguration) throws -> FunctionSettings {
        for (name, _) in query where !names.contains(String(name)) {
            throw HostError.invalidParameter(name: String(name), reason: "unknown; a deploy accepts \(names.joined(separator: ", "))")
        }
        var settings = FunctionSettings()
        if let raw = query["timeout"] {
            guard let seconds = Double(String(raw)), seconds.isFinite, seconds >= minimumTimeout, seconds <= 300 else {
                throw HostError.invalidParameter(
                    name: "timeout", reason: "must be a number of seconds in [\(minimumTimeout), 300], not \"\(raw)\"")
            }
            settings.timeoutSeconds = seconds
        }
        // The operator's --worker-memory is the most a worker may have.
        let memoryLimit = Int(configuration.workerLimits.memoryBytes / (1024 * 1024))
        settings.memoryMiB = try integer(query, "memory", in: 384...max(384, memoryLimit), unit: "MiB")
        // --workers-per-function and --max-workers bound what a function may ask for.
        let workers = min(configuration.limits.perFunction, configuration.limits.total)
        settings.concurrency = try integer(query, "concurrency", in: 1...workers, unit: "workers (--workers-per-function)")
        settings.minWarm = try integer(query, "min_warm", in: 0...workers, unit: "workers (--workers-per-function)") ?? 0
        if settings.minWarm > (settings.concurrency ?? Int.max) {
            throw HostError.invalidParameter(name: "min_warm", reason: "must not exceed concurrency (\(settings.concurrency!))")
        }
        return settings
    }

    /// The `access` parameter: true for `private`, false for `public`, nil when absent.
    /// - Throws: `HostError.invalidParameter` for another value.
    static func isPrivate(_ query: Parameters) throws -> Bool? {
        switch query["access"].map(String.init) {
        case nil: return nil
        case "private": return true
        case "public": return false
        case let other?: throw HostError.invalidParameter(name: "access", reason: "must be private or public, not \"\(other)\"")
        }
    }

    private static func integer(_ query: Parameters, _ name: String, in range: ClosedRange<Int>, unit: String) throws -> Int? {
        guard let raw = query[Substring(name)] else { return nil }
        guard let value = Int(String(raw)), range.contains(value) else {
            throw HostError.invalidParameter(
                name: name, reason: "must be a whole number of \(unit) in \(range.lowerBound)...\(range.upperBound), not \"\(raw)\"")
        }
        return value
    }
}
