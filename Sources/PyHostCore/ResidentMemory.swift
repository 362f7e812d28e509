import Foundation

/// A process's resident set size, from /proc/PID/statm.
enum ResidentMemory {
    static func bytes(of pid: Int32) -> UInt64? {
        guard let statm = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .ascii) else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return nil }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
