import DequeModule
import Foundation
import PyHostWire
import Synchronization

/// One invocation as kept for `GET /functions/{name}/logs`.
public struct InvocationRecord: Sendable, Equatable {
    public init(
        id: String, node: String = "", version: Int, instance: String, startedAt: Date, milliseconds: Double, status: Int, logs: String
    ) {
        self.id = id
        self.node = node
        self.version = version
        self.instance = instance
        self.startedAt = startedAt
        self.milliseconds = milliseconds
        self.status = status
        self.logs = logs
    }

    public let id: String
    /// The node that served it (`HostConfiguration.nodeName`), which the host sets as it keeps the record.
    public internal(set) var node: String
    public let version: Int
    /// The version's `FunctionVersion.instance`: a record is kept only while that version is.
    public let instance: String
    public let startedAt: Date
    public let milliseconds: Double
    /// The HTTP status the call answered with.
    public let status: Int
    /// What the handler printed or logged, or an empty string.
    public let logs: String
}

/// The last `capacity` invocations of each function, in memory: bounded in count and in bytes,
/// and gone on restart. A function keeps at most `functionBytes` of records, the host at most
/// `hostBytes`; past the host's budget the function holding the most gives up its oldest record.
final class InvocationLog: Sendable {
    /// What one function's records may hold: 32 calls that each printed the most a call may keep.
    static let functionBytes = 32 * (Frame.maximumLogBytes + 256)
    static let hostBytes = 64 * 1024 * 1024

    private let capacity: Int
    private let functionBytes: Int
    private let hostBytes: Int
    private let state = Mutex(State())

    private struct State {
        var records: [String: Deque<InvocationRecord>] = [:]
        var bytes: [String: Int] = [:]
        var total = 0

        mutating func dropOldest(of name: String) {
            guard let dropped = records[name]?.popFirst() else { return }
            bytes[name, default: 0] -= dropped.bytes
            total -= dropped.bytes
        }
    }

    init(capacity: Int, functionBytes: Int = InvocationLog.functionBytes, hostBytes: Int = InvocationLog.hostBytes) {
        self.capacity = capacity
        self.functionBytes = functionBytes
        self.hostBytes = hostBytes
    }

    func append(_ record: InvocationRecord, to name: String) {
        guard capacity > 0 else { return }
        state.withLock { state in
            state.records[name, default: []].append(record)
            state.bytes[name, default: 0] += record.bytes
            state.total += record.bytes
            while let count = state.records[name]?.count, count > capacity || (count > 0 && state.bytes[name, default: 0] > functionBytes) {
                state.dropOldest(of: name)
            }
            while state.total > hostBytes, let largest = state.bytes.max(by: { $0.value < $1.value })?.key {
                state.dropOldest(of: largest)
            }
        }
    }

    /// Newest first.
    func records(of name: String) -> [InvocationRecord] {
        Array(state.withLock { $0.records[name] ?? [] }.reversed())
    }

    func remove(_ name: String) {
        state.withLock { state in
            state.total -= state.bytes.removeValue(forKey: name) ?? 0
            state.records[name] = nil
        }
    }
}

extension InvocationRecord {
    /// What keeping the record costs, roughly: its logs and a fixed overhead.
    var bytes: Int { logs.utf8.count + 128 }
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
