import ArgumentParser
import Foundation
import PyHostCore

/// `pyhost serve`'s flags for the packages a module declares in its `# /// script` block.
struct PackageOptions: ParsableArguments {
    @Option(name: .customLong("package-index"), help: "The package index pip resolves requirements against (default: PyPI).")
    var packageIndex: String?

    @Option(name: .customLong("find-links"), help: "A folder of wheels pip may install from (repeatable).")
    var findLinks: [String] = []

    @Flag(name: .customLong("no-index"), help: "Install only from --find-links folders: no index is contacted.")
    var noIndex = false

    @Option(name: .customLong("install-timeout"), help: "Seconds one deploy's requirements may take to resolve and install.")
    var installTimeout: Double = 300

    @Option(name: .customLong("install-max-mib"), help: "The most one environment may take on disk, in MiB.")
    var installMaxMiB = 2048

    @Option(
        name: .customLong("environment-memory"),
        help: "Resident memory, in MiB, that idle zygotes of package environments may hold before they retire.")
    var environmentMemory: UInt64 = 1024

    func validate() throws {
        if let packageIndex {
            guard let url = URL(string: packageIndex), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ValidationError("--package-index must be an http or https URL, such as https://pypi.org/simple")
            }
            guard !noIndex else { throw ValidationError("--package-index and --no-index contradict each other") }
        }
        guard !noIndex || !findLinks.isEmpty else { throw ValidationError("--no-index needs at least one --find-links folder") }
        for folder in findLinks {
            var directory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &directory), directory.boolValue else {
                throw ValidationError("--find-links \(folder) is not a folder")
            }
        }
        guard installTimeout > 0, installMaxMiB > 0 else {
            throw ValidationError("--install-timeout and --install-max-mib must be positive")
        }
    }

    /// The installer's settings: pip's index flags and the limits.
    var settings: PackageInstaller.Settings {
        var settings = PackageInstaller.Settings()
        if let packageIndex { settings.indexFlags += ["--index-url", packageIndex] }
        if noIndex { settings.indexFlags.append("--no-index") }
        for folder in findLinks { settings.indexFlags += ["--find-links", URL(fileURLWithPath: folder).standardizedFileURL.path] }
        settings.timeout = .milliseconds(Int64(installTimeout * 1000))
        settings.maximumBytes = installMaxMiB * 1024 * 1024
        return settings
    }
}
