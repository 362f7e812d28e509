import ArgumentParser
import Foundation

/// Where the server is and how to authenticate, shared by every client command.
struct ClientOptions: ParsableArguments {
    @Option(help: "The server's URL (or PYHOST_URL).")
    var url: String?

    @Option(name: .customLong("deploy-token"), help: "The deploy token, for deploy, rollback and delete (or PYHOST_DEPLOY_TOKEN).")
    var deployToken: String?

    @Flag(help: "Print the server's JSON instead of readable text.")
    var json = false

    var client: APIClient {
        let environment = ProcessInfo.processInfo.environment
        let base = url ?? environment["PYHOST_URL"] ?? "http://127.0.0.1:3000"
        let token = deployToken ?? environment["PYHOST_DEPLOY_TOKEN"]
        return APIClient(base: base.hasSuffix("/") ? String(base.dropLast()) : base, token: token?.isEmpty == false ? token : nil)
    }
}

/// The exit codes scripts can rely on.
enum ClientExit {
    /// The server answered with an error (4xx or 5xx); its message is on stderr.
    static let apiError = ExitCode(1)
    /// The server could not be reached.
    static let unreachable = ExitCode(2)
}
