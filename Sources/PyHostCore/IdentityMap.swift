import Foundation
import PyHostWire

/// The uid and gid maps of the zygote's user namespace, written by the server from the parent
/// namespace (only a process privileged there may map ids other than its own).
///
/// uid and gid 0..65535 of the namespace map to host ids 100000..165535, which no host account
/// owns: the zygote is uid 0 inside and unprivileged outside, and its workers run as uid 1000
/// inside, host uid 101000.
enum IdentityMap {
    static let range = "0 100000 65536\n"

    enum Outcome: Equatable {
        /// 0..65535 map to 100000..165535.
        case fullRange
        /// Only the server's own uid and gid map to 0: a server that is not root in its namespace.
        case ownIdentity
        case failed(String)
    }

    /// Writes both maps: the full range if the server may, else its own ids.
    static func write(pid: Int32) -> Outcome {
        if (try? writeMaps(pid: pid, uid: range, gid: range)) != nil { return .fullRange }
        do {
            // Without privilege in the parent namespace, a process may map only its own ids, and
            // the gid map needs setgroups denied first.
            try "deny".write(toFile: "/proc/\(pid)/setgroups", atomically: false, encoding: .utf8)
            try writeMaps(pid: pid, uid: "0 \(geteuid()) 1\n", gid: "0 \(getegid()) 1\n")
            return .ownIdentity
        } catch {
            return .failed("writing the uid and gid maps of the zygote failed: \(error.localizedDescription)")
        }
    }

    private static func writeMaps(pid: Int32, uid: String, gid: String) throws {
        try uid.write(toFile: "/proc/\(pid)/uid_map", atomically: false, encoding: .utf8)
        try gid.write(toFile: "/proc/\(pid)/gid_map", atomically: false, encoding: .utf8)
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
