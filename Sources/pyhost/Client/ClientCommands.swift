import ArgumentParser
import Foundation

/// Runs a client command body, mapping failures to the documented exit codes.
func runClient(_ options: ClientOptions, _ body: (APIClient) async throws -> APIClient.Reply, readable: (APIClient.Reply) -> String)
    async throws
{
    let reply: APIClient.Reply
    do {
        reply = try await body(options.client)
    } catch let error as APIClient.Unreachable {
        printError("pyhost: \(error)")
        throw ClientExit.unreachable
    }
    guard reply.isSuccess else {
        if options.json { printError(String(decoding: reply.body, as: UTF8.self)) } else { printError(reply.errorSummary) }
        throw ClientExit.apiError
    }
    let text = options.json ? String(decoding: reply.body, as: UTF8.self) : readable(reply)
    if !text.isEmpty { print(text) }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
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
        try await runClient(options, { try await $0.send("POST", path, body: source, contentType: "text/plain", authorized: true) }) {
            reply in
            let body = reply.json as? [String: Any] ?? [:]
            return "deployed \(name) version \(body["version"] ?? "?") (sha256 \(body["sha256"] ?? "?"))\n"
                + "invoke: pyhost invoke \(name) '{…}'  or  POST \(options.client.base)\(body["invoke_url"] ?? "")"
        }
    }
}

struct InvokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "invoke", abstract: "Call a function with a JSON request.")

    @Argument(help: "The function's name.") var name: String
    @Argument(help: "The JSON request, or - for standard input (default: null).") var request: String?
    @Option(help: "Call this version instead of the serving one.") var version: Int?
    @Flag(help: "Also print what the handler printed or logged (to standard error).") var logs = false
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let body: Data = request == "-" ? FileHandle.standardInput.readDataToEndOfFile() : Data((request ?? "null").utf8)
        let path = (version.map { "/functions/\(name)/versions/\($0)/invoke" } ?? "/functions/\(name)/invoke") + (logs ? "?logs=true" : "")
        try await runClient(options, { try await $0.send("POST", path, body: body) }) { reply in
            guard logs, let envelope = reply.json as? [String: Any] else { return String(decoding: reply.body, as: UTF8.self) }
            if let printed = envelope["logs"] as? String, !printed.isEmpty {
                printError(printed.hasSuffix("\n") ? String(printed.dropLast()) : printed)
            }
            let result = envelope["result"] ?? NSNull()
            let data = (try? JSONSerialization.data(withJSONObject: result, options: [.fragmentsAllowed, .sortedKeys])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }
}

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List functions and their serving versions.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await runClient(options, { try await $0.send("GET", "/functions") }) { reply in
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
        try await runClient(options, { try await $0.send("GET", "/functions/\(name)/logs") }) { reply in
            let invocations = (reply.json as? [String: Any])?["invocations"] as? [[String: Any]] ?? []
            guard !invocations.isEmpty else { return "no invocations of \(name) yet" }
            return invocations.map { entry in
                let head =
                    "\(entry["started_at"] ?? "") \(entry["invocation_id"] ?? "") v\(entry["version"] ?? "") "
                    + "\(entry["status"] ?? "") \(entry["milliseconds"] ?? "") ms"
                let logs = (entry["logs"] as? String ?? "").split(separator: "\n", omittingEmptySubsequences: false)
                    .filter { !$0.isEmpty }.map { "    \($0)" }
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
        try await runClient(options, { try await $0.send("POST", "/functions/\(name)/rollback?version=\(version)", authorized: true) }) {
            _ in
            "\(name) now serves version \(version)"
        }
    }
}

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a function and every version of it.")
    @Argument(help: "The function's name.") var name: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await runClient(options, { try await $0.send("DELETE", "/functions/\(name)", authorized: true) }) { _ in
            "deleted \(name)"
        }
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
