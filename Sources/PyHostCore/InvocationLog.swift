import Foundation
import Synchronization

/// One invocation as kept for `GET /functions/{name}/logs`.
public struct InvocationRecord: Sendable, Equatable {
    public init(id: String, version: Int, startedAt: Date, milliseconds: Double, status: Int, logs: String) {
        self.id = id
        self.version = version
        self.startedAt = startedAt
        self.milliseconds = milliseconds
        self.status = status
        self.logs = logs
    }

    public let id: String
    public let version: Int
    public let startedAt: Date
    public let milliseconds: Double
    /// The HTTP status the call answered with.
    public let status: Int
    /// What the handler printed or logged, or an empty string.
    public let logs: String
}

/// The last `capacity` invocations of each function, in memory: bounded, and gone on restart.
final class InvocationLog: Sendable {
    private let capacity: Int
    private let entries = Mutex<[String: [InvocationRecord]]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    func append(_ record: InvocationRecord, to name: String) {
        guard capacity > 0 else { return }
        entries.withLock { entries in
            var records = entries[name, default: []]
            records.append(record)
            if records.count > capacity { records.removeFirst(records.count - capacity) }
            entries[name] = records
        }
    }

    /// Newest first.
    func records(of name: String) -> [InvocationRecord] {
        entries.withLock { $0[name] ?? [] }.reversed()
    }

    func remove(_ name: String) {
        entries.withLock { $0[name] = nil }
    }
}

/// A short random id for an invocation, in its response header and every log line about it.
enum InvocationID {
    static func make() -> String {
        String(UInt64.random(in: .min ... .max), radix: 16, uppercase: false).leftPadded(to: 16)
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - count)) + self
    }
}
