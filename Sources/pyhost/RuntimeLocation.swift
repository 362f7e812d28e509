import Foundation

/// Where this program and the Python runtime it embeds are found.
enum RuntimeLocation {
    /// The absolute path of this executable, which the zygote runs as.
    static var executable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// `python/` of the checkout this binary was built from, unless PYHOST_RUNTIME_DIR names another.
    static var pythonDirectory: String {
        if let override = ProcessInfo.processInfo.environment["PYHOST_RUNTIME_DIR"], !override.isEmpty {
            return override
        }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("python").path
    }
}
