import ArgumentParser
import Foundation
import PyHostCore

/// `pyhost keys`: invoker keys for private functions.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Make, list and revoke invoker keys.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a key; its secret is printed once.")
        @Option(help: "The functions it may call, comma-separated (default: every function).") var functions: String?
        @Option(help: "At most this many calls a second, as 50/s or 50 (default: no limit).") var rate: String?
        @OptionGroup var options: ClientOptions

        func run() async throws {
            var fields: [String: Any] = [:]
            if let functions { fields["functions"] = functions.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            if let rate { fields["rate_per_second"] = try callsPerSecond(rate) }
            let body = try JSONSerialization.data(withJSONObject: fields)
            let request = APIClient.Request(method: "POST", path: "/keys", body: body, authorized: true)
            try await runClient(options, request) { reply in
                let key = reply.json as? [String: Any] ?? [:]
                return "\(key["key"] ?? "")\n(key \(key["id"] ?? ""); shown once: the server keeps only its digest)"
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys by id (never their secrets).")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            try await runClient(options, APIClient.Request(method: "GET", path: "/keys", authorized: true)) { reply in
                let keys = (reply.json as? [String: Any])?["keys"] as? [[String: Any]] ?? []
                guard !keys.isEmpty else { return "no keys" }
                let rows = keys.map { key in
                    [
                        "\(key["id"] ?? "")", (key["functions"] as? [String])?.joined(separator: ",") ?? "*",
                        (key["rate_per_second"] as? Double).map { "\($0.formattedRate)/s" } ?? "-", "\(key["created_at"] ?? "")",
                    ]
                }
                return table(header: ["ID", "FUNCTIONS", "RATE", "CREATED"], rows: rows)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key: the next call with it is refused.")
        @Argument(help: "The key's id (k_…).") var id: String
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let request = APIClient.Request(method: "DELETE", path: "/keys/\(id)", authorized: true)
            try await runClient(options, request) { _ in "revoked \(id)" }
        }
    }
}

/// `pyhost access`: who may call a function, and how often.
struct AccessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access", abstract: "Show or set a function's access (public or private) and rate limit.")
    @Argument(help: "The function's name.") var name: String
    @Argument(help: "public or private; left out, the current access is shown.") var access: String?
    @Option(help: "At most this many calls a second from all callers, as 50/s (with an access; default: no limit).") var rate: String?
    @OptionGroup var options: ClientOptions

    func validate() throws {
        guard access == nil || ["public", "private"].contains(access!) else { throw ValidationError("access must be public or private") }
        guard rate == nil || access != nil else {
            throw ValidationError("--rate goes with an access: pyhost access NAME public --rate 50/s")
        }
    }

    func run() async throws {
        var request = APIClient.Request(method: "GET", path: "/functions/\(name)/access")
        if let access {
            var fields: [String: Any] = ["access": access]
            if let rate { fields["rate_per_second"] = try callsPerSecond(rate) }
            request = APIClient.Request(
                method: "PUT", path: request.path, body: try JSONSerialization.data(withJSONObject: fields), authorized: true)
        }
        try await runClient(options, request) { reply in
            let answer = reply.json as? [String: Any] ?? [:]
            let rate = (answer["rate_per_second"] as? Double).map { ", at most \($0.formattedRate)/s" } ?? ""
            return "\(name) is \(answer["access"] ?? "")\(rate)"
        }
    }
}

/// `pyhost audit`: the latest changes to the host.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Show the latest deploys, rollbacks, deletes and key changes.")
    @Option(help: "How many entries, newest first.") var limit = 100
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await runClient(options, APIClient.Request(method: "GET", path: "/audit?limit=\(limit)", authorized: true)) { reply in
            let entries = (reply.json as? [String: Any])?["entries"] as? [[String: Any]] ?? []
            guard !entries.isEmpty else { return "no changes yet" }
            let rows = entries.map { entry in ["at", "actor", "action", "target", "detail"].map { "\(entry[$0] ?? "")" } }
            return table(header: ["AT", "ACTOR", "ACTION", "TARGET", "DETAIL"], rows: rows)
        }
    }
}

/// Calls a second from `50/s` or `50`.
private func callsPerSecond(_ rate: String) throws -> Double {
    guard let value = Double(rate.hasSuffix("/s") ? String(rate.dropLast(2)) : rate) else {
        throw ValidationError("--rate must be a number of calls a second, as 50/s")
    }
    return value
}
