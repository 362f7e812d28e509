import Foundation

/// The package environment a zygote serves, as the server passes it on the zygote's command line.
///
/// Such a zygote differs from the base zygote in three ways (see `Zygote.run`):
/// - nothing but the interpreter loads before confinement, since the environment's packages (and
///   pandas, which one may replace) are code of the configurator's choosing;
/// - its read-only root also shows the environment and the runtime, read-only, and nothing else;
/// - it imports its packages only after making itself non-dumpable, closing every descriptor but
///   its control socket and stderr, and installing `SandboxPolicy.environmentZygote`: a worker's
///   filter with what forking confined workers needs added.
public struct ZygoteEnvironment: Sendable, Equatable {
    public static let argument = "--environment"
    public static let modulesArgument = "--modules"
    public static let identityArgument = "--identity-offset"
    public static let memoryArgument = "--memory-bytes"
    /// The environment's site-packages folder on the host.
    public let directory: String
    /// The top-level modules to import before forking.
    public let modules: [String]
    /// Added to each worker's identity slot, so that no two zygotes' workers share a uid.
    public let identityOffset: Int
    /// The zygote's address space: the most any of its workers may have.
    public let memoryBytes: UInt64

    public init(directory: String, modules: [String], identityOffset: Int, memoryBytes: UInt64) {
        self.directory = directory
        self.modules = modules
        self.identityOffset = identityOffset
        self.memoryBytes = memoryBytes
    }

    /// The zygote's arguments after the runtime folder, as `parse` reads them.
    public var arguments: [String] {
        [
            Self.argument, directory, Self.modulesArgument, modules.joined(separator: ","), Self.identityArgument, String(identityOffset),
            Self.memoryArgument, String(memoryBytes),
        ]
    }

    /// The environment named by `arguments`, or nil when they name none.
    public static func parse(_ arguments: [String]) -> ZygoteEnvironment? {
        func value(_ name: String) -> String? {
            arguments.firstIndex(of: name).flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
        }
        guard let directory = value(argument) else { return nil }
        let modules = (value(modulesArgument) ?? "").split(separator: ",").map(String.init)
        return ZygoteEnvironment(
            directory: directory, modules: modules, identityOffset: Int(value(identityArgument) ?? "") ?? 0,
            memoryBytes: UInt64(value(memoryArgument) ?? "") ?? 1 << 30)
    }

}

/// The children of thread `thread` of process `process` ("self" for this one), from
/// /proc/PID/task/TID/children; none when the kernel does not list them.
public func childProcesses(of process: String, thread: String) -> [Int32] {
    let listed = (try? String(contentsOfFile: "/proc/\(process)/task/\(thread)/children", encoding: .utf8)) ?? ""
    return listed.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
}
