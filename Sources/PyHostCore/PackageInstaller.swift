import Foundation
import Synchronization

/// Runs `pyhost_runtime/installer.py` with Debian's Python: it reads a module's `# /// script`
/// block, resolves it with pip against the host's packages (wheels only, so no package code runs
/// here), and installs what the host lacks into `environments/<sha256 of the pinned set>`.
///
/// A block resolves once per node: a later deploy with the same block (a redeploy with a new
/// handler) reuses its resolution, as a lock file would, and serves without running pip.
public final class PackageInstaller: Sendable {
    /// Where pip looks for packages, and the limits of one install.
    public struct Settings: Sendable, Equatable {
        /// pip's index flags: `--index-url URL`, `--find-links DIR`, `--no-index`.
        public var indexFlags: [String] = []
        public var timeout: Duration = .seconds(300)
        public var maximumBytes = 2 * 1024 * 1024 * 1024

        public init() {}
    }

    let settings: Settings
    let runtimeDirectory: String
    /// The folder of the environments, one folder each, named by their digest.
    let environments: URL
    /// Resolutions by the text of the block they came from.
    private let resolved = Mutex<[String: Requirements]>([:])
    static let remembered = 1024

    init(settings: Settings, runtimeDirectory: String, environments: URL) {
        self.settings = settings
        self.runtimeDirectory = runtimeDirectory
        self.environments = environments
    }

    /// The resolved requirements of `source`, their environment installed; nil when it has no block.
    /// - Throws: `HostError.requirementsRefused` with the installer's typed reason.
    func resolve(source: String) async throws -> Requirements? {
        let block = Requirements.block(in: source)
        if let block, let known = resolved.withLock({ $0[block] }) { return known }
        let answer = try await run(mode: "resolve", input: Data(source.utf8))
        guard let declared = answer.declared else { return nil }
        // A resolution is remembered under the block the installer read; one the server reads
        // otherwise would let this source's resolution serve another's block.
        guard answer.block == block else {
            throw HostError.requirementsRefused(
                type: "InvalidRequirements",
                message: "the `# /// script` block is ambiguous: write one block of `#` lines closed by a single `# ///`")
        }
        let requirements = Requirements(
            declared: declared, packages: answer.packages ?? [], environment: answer.environment, shadows: answer.shadows ?? [],
            modules: answer.modules ?? [])
        if let block { remember(requirements, of: block) }
        return requirements
    }

    /// Records how `block` resolved: at deploy, and for the stored versions at start.
    func remember(_ requirements: Requirements, of block: String) {
        resolved.withLock { resolved in
            if resolved.count >= Self.remembered { resolved.removeAll() }
            resolved[block] = requirements
        }
    }

    /// Installs the environment of `requirements` again, from its pinned, hash-checked set, unless
    /// it is there: after a restart on an empty disk, on another node, or after collection.
    func install(_ requirements: Requirements) async throws {
        guard let environment = requirements.environment, !FileManager.default.fileExists(atPath: sitePackages(of: environment))
        else { return }
        _ = try await run(mode: "install", input: try JSONEncoder().encode(requirements))
    }

    /// Whether every file the installer recorded in the environment's manifest is there, with its size.
    func isIntact(_ environment: String) -> Bool {
        let folder = environments.appendingPathComponent(environment)
        guard let manifest = try? String(contentsOf: folder.appendingPathComponent("manifest"), encoding: .utf8) else { return false }
        let site = folder.appendingPathComponent("site-packages").path
        return manifest.split(separator: "\n").allSatisfy { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, let size = UInt64(parts[0]) else { return false }
            var info = stat()
            return stat(site + "/" + parts[1], &info) == 0 && UInt64(info.st_size) == size
        }
    }

    /// Replaces the environment of `requirements` with a fresh install of its pinned set.
    func reinstall(_ requirements: Requirements) async throws {
        guard let environment = requirements.environment else { return }
        let folder = environments.appendingPathComponent(environment)
        let aside = environments.appendingPathComponent(".damaged-\(UUID().uuidString)")
        try? FileManager.default.moveItem(at: folder, to: aside)
        try? FileManager.default.removeItem(at: aside)
        try await install(requirements)
    }

    func sitePackages(of environment: String) -> String {
        environments.appendingPathComponent(environment).appendingPathComponent("site-packages").path
    }

    private struct Answer: Decodable {
        struct Refusal: Decodable {
            let type: String
            let message: String
        }
        let declared: [String]?
        let packages: [Requirements.Package]?
        let environment: String?
        let shadows: [String]?
        let modules: [String]?
        let error: Refusal?
        /// The text of the block the installer read.
        let block: String?
    }

    /// One run of the installer, timed for `pyhost_install_duration_seconds`.
    private func run(mode: String, input: Data) async throws -> Answer {
        let started = ContinuousClock.now
        defer { HostMetrics.install(seconds: (ContinuousClock.now - started).seconds) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments =
            ["-I", runtimeDirectory + "/pyhost_runtime/installer.py", mode, environments.path] + settings.indexFlags
        // Nothing of the server's own environment (its deploy token above all) reaches pip.
        let server = ProcessInfo.processInfo.environment
        var environment = [
            "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": server["HOME"] ?? "/root",
            "PYHOST_INSTALL_TIMEOUT": String(settings.timeout.seconds),
            "PYHOST_INSTALL_MAX_BYTES": String(settings.maximumBytes),
        ]
        for name in ["http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"] {
            environment[name] = server[name]
        }
        process.environment = environment
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        let ended = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in
            ended.continuation.yield()
            ended.continuation.finish()
        }
        do {
            try process.run()
        } catch {
            throw HostError.requirementsRefused(type: "InstallFailed", message: "the package installer did not start: \(error)")
        }
        // The installer stops pip at its own deadline; this one ends the installer if it hangs.
        let backstop = Task {
            try await Task.sleep(for: settings.timeout + .seconds(30))
            process.terminate()
        }
        defer { backstop.cancel() }
        async let output = Task.detached { stdout.fileHandleForReading.readDataToEndOfFile() }.value
        await Task.detached {
            try? stdin.fileHandleForWriting.write(contentsOf: input)
            try? stdin.fileHandleForWriting.close()
        }.value
        let data = await output
        for await _ in ended.stream {}
        guard let answer = try? JSONDecoder().decode(Answer.self, from: data) else {
            throw HostError.requirementsRefused(
                type: "InstallFailed", message: "the package installer ended without an answer (status \(process.terminationStatus))")
        }
        if let refusal = answer.error {
            let type = Requirements.refusals.contains(refusal.type) ? refusal.type : "InstallFailed"
            throw HostError.requirementsRefused(type: type, message: refusal.message)
        }
        return answer
    }
}
