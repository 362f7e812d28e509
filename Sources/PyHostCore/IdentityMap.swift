import Foundation
import PyHostWire

/// The uid and gid maps of the zygote's user namespace, written by the server from the parent
/// namespace (only a process privileged there may map ids other than its own).
///
/// uid and gid 0..65535 of the namespace map to host ids 100000..165535, which no host account
/// owns: the zygote is uid 0 inside and unprivileged outside, and each live worker runs as a uid
/// of its own from 1000 inside, host uid 101000 onwards.
enum IdentityMap {
    static let hostBase = 100_000
    static let count = 65536
    static let range = "0 \(hostBase) \(count)\n"
    /// The files that give host accounts subordinate ids, which must not overlap the range.
    static let subordinateFiles = ["/etc/subuid", "/etc/subgid"]

    enum Outcome: Equatable {
        /// 0..65535 map to 100000..165535.
        case fullRange
        /// Only the server's own uid and gid map to 0: a server that is not root in its namespace.
        case ownIdentity
        case failed(String)
    }

    /// Writes both maps: the full range if the server may, else its own ids.
    static func write(pid: Int32) -> Outcome {
        if let overlap = subordinateOverlap() { return .failed(overlap) }
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

    /// A line of /etc/subuid or /etc/subgid (`name:first:count`) whose ids overlap the range: their
    /// owner's containers would share ids with pyhost's workers.
    static func subordinateOverlap(files: [String] = subordinateFiles) -> String? {
        for file in files {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: ":")
                guard fields.count == 3, let first = Int(fields[1]), let length = Int(fields[2]) else { continue }
                if first < hostBase + count && hostBase < first + length {
                    return "\(file) gives \(fields[0]) ids \(first)-\(first + length - 1), which overlap the ids pyhost's "
                        + "workers use (\(hostBase)-\(hostBase + count - 1)); move that range"
                }
            }
        }
        return nil
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
