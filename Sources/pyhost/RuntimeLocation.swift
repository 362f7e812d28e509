import Foundation

/// Where this program and the Python runtime it embeds are found.
enum RuntimeLocation {
    /// The absolute path of this executable, which the zygote runs as.
    static var executable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The folder holding `pyhost_runtime`: PYHOST_RUNTIME_DIR if set; else `share/pyhost` beside
    /// the installed `bin/pyhost` (see scripts/install); else, for a development build, `python/`
    /// of the checkout it was built from.
    static var pythonDirectory: String {
        if let override = ProcessInfo.processInfo.environment["PYHOST_RUNTIME_DIR"], !override.isEmpty {
            return override
        }
        let installed = URL(fileURLWithPath: executable)
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("share/pyhost")
        if FileManager.default.fileExists(atPath: installed.appendingPathComponent("pyhost_runtime").path) {
            return installed.path
        }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("python").path
    }
}
