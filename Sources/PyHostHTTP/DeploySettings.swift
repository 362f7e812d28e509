import Hummingbird
import PyHostCore

/// The per-version settings a deploy takes as query parameters, validated.
struct DeploySettings: Equatable {
    static let maximumTimeout = 300.0

    var timeoutSeconds: Double?

    /// - Throws: `HostError.invalidParameter` for an unknown parameter or a value out of range.
    init(query: Parameters) throws {
        for (name, _) in query where name != "timeout" {
            throw HostError.invalidParameter(name: String(name), reason: "unknown; a deploy accepts timeout")
        }
        if let raw = query["timeout"] {
            guard let seconds = Double(String(raw)), seconds.isFinite, seconds > 0, seconds <= Self.maximumTimeout else {
                throw HostError.invalidParameter(name: "timeout", reason: "must be a number of seconds in (0, 300], not \"\(raw)\"")
            }
            timeoutSeconds = seconds
        }
    }
}
