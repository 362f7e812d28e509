import ArgumentParser
import Foundation

/// Sends one request and prints the answer, or why there is none, with the documented exit codes.
/// - Parameters:
///   - logs: what the handler printed, if the answer carries it: shown on stderr first, also when the call failed.
///   - readable: the answer as text, when `--json` is not given.
func runClient(
    _ options: ClientOptions, _ request: APIClient.Request, logs: (APIClient.Reply) -> String? = { _ in nil },
    readable: (APIClient.Reply) -> String
) async throws {
    let output = options.output
    let client = try options.client()
    if request.authorized, client.token != nil, client.sendsTokenInTheClear {
        output.printError("pyhost: warning: the deploy token goes to \(client.base) over plain http, readable by anyone on the way")
    }
    let reply: APIClient.Reply
    do {
        reply = try await client.send(request)
    } catch let failure as APIClient.Failure {
        output.printError("pyhost: \(failure)")
        if case .unreachable = failure { throw ClientExit.unreachable }
        throw ClientExit.apiError
    }
    if !options.json, let printed = logs(reply), !printed.isEmpty {
        output.printError(printed.hasSuffix("\n") ? String(printed.dropLast()) : printed)
    }
    guard reply.isSuccess else {
        output.printError(options.json ? String(decoding: reply.body, as: UTF8.self) : reply.errorSummary)
        throw ClientExit.apiError
    }
    let text = options.json ? String(decoding: reply.body, as: UTF8.self) : readable(reply)
    if !text.isEmpty { output.print(text) }
}

struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deploy", abstract: "Deploy a module as the next version of a function.")

    @Argument(help: "The function's name.") var name: String
    @Argument(help: "The module's file, or - for standard input.") var file: String
    @Option(help: "Invocation deadline, in seconds.") var timeout: Double?
    @Option(help: "Address space per worker, in MiB.") var memory: Int?
    @Option(help: "Workers this version may have at once.") var concurrency: Int?
    @Option(name: .customLong("min-warm"), help: "Workers kept loaded even when idle.") var minWarm: Int?
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let source = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
        var query: [String] = []
        if let timeout { query.append("timeout=\(timeout)") }
        if let memory { query.append("memory=\(memory)") }
        if let concurrency { query.append("concurrency=\(concurrency)") }
        if let minWarm { query.append("min_warm=\(minWarm)") }
        let path = "/functions/\(name)" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        let request = APIClient.Request(method: "POST", path: path, body: source, contentType: "text/plain", authorized: true)
        try await runClient(options, request) { reply in
            let body = reply.json as? [String: Any] ?? [:]
            return "deployed \(name) version \(body["version"] ?? "?") (sha256 \(body["sha256"] ?? "?"))\n"
                + Self.describe(requirements: body["requirements"] as? [String: Any])
                + "invoke: pyhost invoke \(name) '{…}'  or  POST \(options.base)\(body["invoke_url"] ?? "")"
        }
    }

    /// The lines that show what a `# /// script` block resolved to; none without a block.
    static func describe(requirements: [String: Any]?) -> String {
        guard let requirements else { return "" }
        let declared = (requirements["declared"] as? [String] ?? []).joined(separator: ", ")
        let packages = (requirements["packages"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? "?")==\($0["version"] ?? "?")" }
        guard let environment = requirements["environment"] as? String, !packages.isEmpty else {
            return "requires: \(declared.isEmpty ? "nothing" : declared), all provided by the host\n"
        }
        let shadows = requirements["shadows"] as? [String] ?? []
        return "requires: \(declared)\n"
            + "installed: \(packages.joined(separator: " ")) (environment \(environment.prefix(12)))\n"
            + (shadows.isEmpty ? "" : "replaces the host's: \(shadows.joined(separator: ", "))\n")
    }
}

struct InvokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "invoke", abstract: "Call a function with a JSON or CSV request.")

    /// The formats an answer can be asked for.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case json, csv

        var mediaType: String { self == .csv ? "text/csv" : "application/json" }
    }

    @Argument(help: "The function's name.") var name: String
    @Argument(help: "The JSON request, or - for standard input (default: null).") var request: String?
    @Option(help: "Call this version instead of the serving one.") var version: Int?
    @Flag(help: "Also print what the handler printed or logged (to standard error).") var logs = false
    @Option(help: "Send this CSV file, or - for standard input, as the request (text/csv).") var csv: String?
    @Option(help: "Ask for the answer as json or csv.") var accept: Format?
    @Option(name: .customLong("key-file"), help: "A file holding the invoker key for a private function (or PYHOST_KEY).")
    var keyFile: String?
    @OptionGroup var options: ClientOptions

    func validate() throws {
        guard request == nil || csv == nil else { throw ValidationError("give a JSON request or --csv, not both") }
    }

    func run() async throws {
        // What the handler printed and versions that no longer serve are the configurator's.
        var call = APIClient.Request(
            method: "POST", path: "/functions/\(name)/invoke", accept: accept?.mediaType, authorized: logs || version != nil,
            invokerKey: try invokerKey())
        if let version { call.path = "/functions/\(name)/versions/\(version)/invoke" }
        if logs { call.path += "?logs=true" }
        if let csv {
            call.body = try csv == "-" ? FileHandle.standardInput.readDataToEndOfFile() : contents(of: csv)
            call.contentType = "text/csv"
        } else {
            call.body = request == "-" ? FileHandle.standardInput.readDataToEndOfFile() : Data((request ?? "null").utf8)
        }
        try await runClient(options, call, logs: printedLogs) { reply in
            let shown = logs && reply.json is [String: Any] ? RawJSON.member("result", of: reply.body) ?? Data() : reply.body
            let text = String(decoding: shown, as: UTF8.self)
            return text.hasSuffix("\n") ? String(text.dropLast()) : text
        }
    }

    /// The key from --key-file or PYHOST_KEY, if any; it is never taken from the command line,
    /// where other users of the machine could read it.
    private func invokerKey() throws -> String? {
        if let keyFile {
            let key = String(decoding: try contents(of: keyFile), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !key.isEmpty else { throw ValidationError("\(keyFile) is empty") }
            return key
        }
        return ProcessInfo.processInfo.environment["PYHOST_KEY"].flatMap { $0.isEmpty ? nil : $0 }
    }

    private func contents(of path: String) throws -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ValidationError("cannot read \(path): \(error.localizedDescription)")
        }
    }

    private func printedLogs(_ reply: APIClient.Reply) -> String? {
        logs ? (reply.json as? [String: Any])?["logs"] as? String : nil
    }
}

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List functions and their serving versions.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await runClient(options, APIClient.Request(method: "GET", path: "/functions")) { reply in
            let functions = (reply.json as? [String: Any])?["functions"] as? [[String: Any]] ?? []
            guard !functions.isEmpty else { return "no functions" }
            let rows = functions.map { ["\($0["name"] ?? "")", "\($0["version"] ?? "")", "\($0["created_at"] ?? "")"] }
            return table(header: ["NAME", "VERSION", "CREATED"], rows: rows)
        }
    }
}

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Show a function's recent invocations and what they printed.")
    @Argument(help: "The function's name.") var name: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await runClient(options, APIClient.Request(method: "GET", path: "/functions/\(name)/logs", authorized: true)) { reply in
            let invocations = (reply.json as? [String: Any])?["invocations"] as? [[String: Any]] ?? []
            guard !invocations.isEmpty else { return "no invocations of \(name) yet" }
            return invocations.map { entry in
                let head =
                    "\(entry["started_at"] ?? "") \(entry["invocation_id"] ?? "") v\(entry["version"] ?? "") "
                    + "\(entry["status"] ?? "") \(entry["milliseconds"] ?? "") ms"
                // Every line break a terminal honours (\r too) starts an indented line, so no printed
                // line can pass for an entry's head.
                let logs = (entry["logs"] as? String ?? "").split(whereSeparator: \.isNewline).map { "    \($0)" }
                return ([head] + logs).joined(separator: "\n")
            }.joined(separator: "\n")
        }
    }
}

struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rollback", abstract: "Make an older version serve again.")
    @Argument(help: "The function's name.") var name: String
    @Argument(help: "The version to serve.") var version: Int
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let request = APIClient.Request(method: "POST", path: "/functions/\(name)/rollback?version=\(version)", authorized: true)
        try await runClient(options, request) { _ in "\(name) now serves version \(version)" }
    }
}

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a function and every version of it.")
    @Argument(help: "The function's name.") var name: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let request = APIClient.Request(method: "DELETE", path: "/functions/\(name)", authorized: true)
        try await runClient(options, request) { _ in "deleted \(name)" }
    }
}

/// Columns padded to their widest cell.
func table(header: [String], rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}
