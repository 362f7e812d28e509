import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A small HTTP client for the pyhost API.
struct APIClient {
    let base: String
    let token: String?

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

    struct Unreachable: Error, CustomStringConvertible {
        let base: String
        let reason: String
        var description: String { "cannot reach pyhost at \(base): \(reason)" }
    }

    func send(
        _ method: String, _ path: String, body: Data? = nil, contentType: String = "application/json",
        authorized: Bool = false
    ) async throws -> Reply {
        guard let url = URL(string: base + path) else { throw Unreachable(base: base, reason: "not a URL") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 330
        if body != nil { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        if authorized, let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            guard let http = response as? HTTPURLResponse else { throw Unreachable(base: base, reason: "not an HTTP answer") }
            var headers: [String: String] = [:]
            for (key, value) in http.allHeaderFields { headers["\(key)".lowercased()] = "\(value)" }
            return Reply(status: http.statusCode, headers: headers, body: data)
        } catch let error as Unreachable {
            throw error
        } catch {
            throw Unreachable(base: base, reason: error.localizedDescription)
        }
    }
}
