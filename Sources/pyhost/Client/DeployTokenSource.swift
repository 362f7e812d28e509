import ArgumentParser
import Foundation

/// Where the deploy token comes from, for `serve` and the client alike: `--deploy-token`,
/// `--deploy-token-file` or PYHOST_DEPLOY_TOKEN.
enum DeployTokenSource {
    static let flagHelp =
        "The deploy token (visible to every local user in /proc/PID/cmdline: prefer PYHOST_DEPLOY_TOKEN or --deploy-token-file)."
    static let fileHelp = "A file holding the deploy token on one line."

    /// The token, or nil when none is set (an empty flag or variable is none).
    /// - Throws: `ValidationError` when both flags are given, the file is missing, unreadable,
    ///   empty or holds more than one line, or the token is not one a bearer header can carry.
    static func resolve(flag: String?, file: String?) throws -> String? {
        if let file {
            guard flag == nil else { throw ValidationError("give --deploy-token or --deploy-token-file, not both") }
            return try checked(try read(file))
        }
        let token = flag ?? ProcessInfo.processInfo.environment["PYHOST_DEPLOY_TOKEN"]
        return try token.flatMap { $0.isEmpty ? nil : try checked($0) }
    }

    /// `token`, if an `Authorization: Bearer` value can carry it whole: visible ASCII without a
    /// comma (the server reads comma-separated values apart, as proxies join repeated fields).
    private static func checked(_ token: String) throws -> String {
        guard token.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) && $0 != "," }) else {
            throw ValidationError("the deploy token must be visible ASCII characters without spaces or commas")
        }
        return token
    }

    private static func read(_ path: String) throws -> String {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ValidationError("cannot read the deploy token file \(path): \(error.localizedDescription)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw ValidationError("the deploy token file \(path) is empty") }
        guard !token.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw ValidationError("the deploy token file \(path) must hold the token on one line")
        }
        return token
    }
}
