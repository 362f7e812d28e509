import Foundation
import PyHostHTTP

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A small HTTP client for the pyhost API.
struct APIClient {
    let base: String
    let token: String?
    let maximumResponseBytes: Int

    struct Request {
        let method: String
        var path: String
        var body: Data? = nil
        var contentType = "application/json"
        var accept: String? = nil
        /// Whether the deploy token goes with it.
        var authorized = false
        /// An invoker key to send instead of the token, for a private function.
        var invokerKey: String? = nil
    }

    struct Reply {
        let status: Int
        let headers: [String: String]
        let body: Data

        var isSuccess: Bool { (200..<300).contains(status) }

        var json: Any? { try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) }

        /// `error.type: error.message` of an error body, or the raw body.
        var errorSummary: String {
            if let object = json as? [String: Any], let error = object["error"] as? [String: Any] {
                var summary = "\(error["type"] as? String ?? "Error"): \(error["message"] as? String ?? "")"
                if let line = error["line"] as? Int { summary += " (line \(line), offset \(error["offset"] as? Int ?? 0))" }
                if let traceback = error["traceback"] as? [String], !traceback.isEmpty {
                    summary += "\n" + traceback.joined(separator: "\n")
                }
                return summary
            }
            return String(decoding: body, as: UTF8.self)
        }
    }

    /// Why no reply came back.
    enum Failure: Error, CustomStringConvertible {
        case unreachable(base: String, reason: String)
        case redirected(base: String, status: Int, location: String?)
        case tooLarge(base: String, limit: Int)

        var description: String {
            switch self {
            case .unreachable(let base, let reason):
                return "cannot reach pyhost at \(base): \(reason)"
            case .redirected(let base, let status, let location):
                return "\(base) answered \(status), a redirect to \(location ?? "nowhere"); redirects are not followed, "
                    + "so use the final address as --url or PYHOST_URL"
            case .tooLarge(let base, let limit):
                return "the answer from \(base) is larger than \(limit) bytes; --max-response-bytes raises the limit"
            }
        }
    }

    /// Whether the token would cross the network readable: plain http to another machine.
    var sendsTokenInTheClear: Bool {
        guard let url = URL(string: base), url.scheme?.lowercased() == "http", let host = url.host else { return false }
        return !PyHostServer.isLoopback(host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")))
    }

    /// - Throws: `Failure` when there is no reply to show: unreachable, a redirect, or too large.
    func send(_ request: Request) async throws -> Reply {
        guard let url = URL(string: base + request.path), ["http", "https"].contains(url.scheme?.lowercased() ?? "") else {
            throw Failure.unreachable(base: base, reason: "not an http or https URL")
        }
        var outgoing = URLRequest(url: url)
        outgoing.httpMethod = request.method
        outgoing.httpBody = request.body
        outgoing.timeoutInterval = 330
        if request.body != nil { outgoing.setValue(request.contentType, forHTTPHeaderField: "Content-Type") }
        if let accept = request.accept { outgoing.setValue(accept, forHTTPHeaderField: "Accept") }
        if let key = request.invokerKey {
            outgoing.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        } else if request.authorized, let token {
            outgoing.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        }
        let response: HTTPURLResponse
        let body: Data
        do {
            (response, body) = try await ResponseCollector.collect(outgoing, limit: maximumResponseBytes)
        } catch ResponseCollector.Failure.tooLarge {
            throw Failure.tooLarge(base: base, limit: maximumResponseBytes)
        } catch ResponseCollector.Failure.transport(let reason) {
            throw Failure.unreachable(base: base, reason: reason)
        }
        var headers: [String: String] = [:]
        for (key, value) in response.allHeaderFields { headers["\(key)".lowercased()] = "\(value)" }
        if (300..<400).contains(response.statusCode) {
            throw Failure.redirected(base: base, status: response.statusCode, location: headers["location"])
        }
        return Reply(status: response.statusCode, headers: headers, body: body)
    }
}
