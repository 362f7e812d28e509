import ArgumentParser
import Foundation

/// Where the server is, how to authenticate and how to show its answers, shared by every client command.
struct ClientOptions: ParsableArguments {
    @Option(help: "The server's URL (or PYHOST_URL).")
    var url: String?

    @Option(name: .customLong("deploy-token"), help: ArgumentHelp(DeployTokenSource.flagHelp + " Sent by deploy, rollback and delete."))
    var deployToken: String?

    @Option(name: .customLong("deploy-token-file"), help: ArgumentHelp(DeployTokenSource.fileHelp))
    var deployTokenFile: String?

    @Flag(help: "Print the server's JSON instead of readable text.")
    var json = false

    @Flag(help: "Write control characters from the server as they are instead of escaped (\\x1b).")
    var raw = false

    @Option(name: .customLong("max-response-bytes"), help: "The largest answer read from the server.")
    var maxResponseBytes = 64 * 1024 * 1024

    func validate() throws {
        guard maxResponseBytes > 0 else { throw ValidationError("--max-response-bytes must be positive") }
        _ = try DeployTokenSource.resolve(flag: deployToken, file: deployTokenFile)
    }

    var output: TerminalOutput { TerminalOutput(raw: raw) }

    /// The server's URL without a trailing slash.
    var base: String {
        let base = url ?? ProcessInfo.processInfo.environment["PYHOST_URL"] ?? "http://127.0.0.1:3000"
        return base.hasSuffix("/") ? String(base.dropLast()) : base
    }

    func client() throws -> APIClient {
        APIClient(
            base: base,
            token: try DeployTokenSource.resolve(flag: deployToken, file: deployTokenFile),
            maximumResponseBytes: maxResponseBytes)
    }
}

/// The exit codes scripts can rely on.
enum ClientExit {
    /// The server answered with an error (4xx or 5xx), a redirect, or more than
    /// --max-response-bytes; the reason is on stderr.
    static let apiError = ExitCode(1)
    /// The server could not be reached.
    static let unreachable = ExitCode(2)
}
