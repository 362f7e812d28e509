import Foundation

/// What a module's PEP 723 `# /// script` block declares, and what pip resolved it to on this host:
/// stored with the version, so a rollback, a restart or another node installs exactly this set.
public struct Requirements: Codable, Sendable, Equatable {
    /// One distribution the host's Python lacks, pinned to the wheel pip chose.
    public struct Package: Codable, Sendable, Equatable {
        public let name: String
        public let version: String
        public let sha256: String
    }

    /// The block's `dependencies`, as written (those whose markers do not hold on this host left out).
    public let declared: [String]
    /// What the environment adds to the host's packages; empty when the host has them all.
    public let packages: [Package]
    /// The content address of the environment holding `packages` (see `PackageInstaller`); nil
    /// when `packages` is empty and the function runs on the base zygote.
    public let environment: String?
    /// Packages of `packages` that replace one of the host's (pandas 2 over the host's pandas).
    public let shadows: [String]
    /// The top-level modules of the declared packages, imported by the environment's zygote.
    public let modules: [String]

    /// Every field, `environment` as null when there is none: the API shows it so.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(declared, forKey: .declared)
        try container.encode(packages, forKey: .packages)
        try container.encode(environment, forKey: .environment)
        try container.encode(shadows, forKey: .shadows)
        try container.encode(modules, forKey: .modules)
    }

    /// Whether `source` has a `# /// script` line, which only then costs a run of the installer.
    static func mayDeclare(_ source: String) -> Bool {
        source.contains("# /// script")
    }

    /// The text of the module's one `# /// script` block as PEP 723's expression finds it: from
    /// that line through the last `# ///` of the comment lines that follow it. Nil when it has none,
    /// more than one, or a carriage return anywhere (the installer refuses those). The installer
    /// returns the block it read, and a resolution is remembered only when the two agree.
    static func block(in source: String) -> String? {
        guard !source.contains("\r") else { return nil }
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        let openings = lines.indices.filter { lines[$0] == "# /// script" }
        guard openings.count == 1, let start = openings.first else { return nil }
        let comments = lines[(start + 1)...].prefix { $0 == "#" || $0.hasPrefix("# ") }
        guard let end = comments.lastIndex(of: "# ///") else { return nil }
        return lines[start...end].joined(separator: "\n")
    }

    /// The error types the installer may answer with; any other becomes `InstallFailed`.
    static let refusals: Set<String> = [
        "InvalidRequirements", "IncompatiblePython", "UnknownPackage", "NoCompatibleWheel", "RequirementConflict",
        "IndexUnreachable", "InstallTimeLimit", "InstallSizeLimit", "InstallFailed",
    ]
}
