import Foundation
import PyHostWire

/// The uid and gid maps of the zygote's user namespace, written by the server from the parent
/// namespace (only a process privileged there may map ids other than its own).
///
/// uid and gid 0..65535 of the namespace map to host ids 100000..165535, which no host account
/// owns: the zygote is uid 0 inside and unprivileged outside, and its workers run as uid 1000
/// inside, host uid 101000.
enum IdentityMap {
    static let line = "0 100000 65536\n"

    /// Writes both maps. Returns nil, or why it failed.
    static func write(pid: Int32) -> String? {
        for file in ["uid_map", "gid_map"] {
            let path = "/proc/\(pid)/\(file)"
            do {
                try line.write(toFile: path, atomically: false, encoding: .utf8)
            } catch {
                return "writing \(path) failed (pyhost must run as root): \(error.localizedDescription)"
            }
        }
        return nil
    }
}

/// The host cannot provide every sandbox layer, and weaker isolation was not allowed.
public enum SandboxError: Error, CustomStringConvertible {
    case incomplete([MissingLayer])

    public var description: String {
        switch self {
        case .incomplete(let missing):
            let lines = missing.map { "  - \($0)" }.joined(separator: "\n")
            return "the sandbox cannot be set up on this host; missing layers:\n\(lines)\n"
                + "Fix the host as described, or start with --allow-weaker-sandbox to run without them."
        }
    }
}
