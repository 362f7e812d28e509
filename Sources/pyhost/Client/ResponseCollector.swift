import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Receives one answer for `APIClient`: a redirect is delivered as the answer instead of being
/// followed (so the token never goes to another address), and reading stops past `limit` bytes.
final class ResponseCollector: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // Unchecked: `body`, `overflowed` and `continuation` are set before the task starts, then touched
    // only on the session's delegate queue, which URLSession makes serial.
    private let limit: Int
    private var body = Data()
    private var overflowed = false
    private var continuation: CheckedContinuation<(HTTPURLResponse, Data), Error>?

    enum Failure: Error {
        case tooLarge
        case transport(String)
    }

    init(limit: Int) {
        self.limit = limit
    }

    /// Runs `request` on a session of its own and returns the status, headers and body.
    /// - Throws: `Failure.tooLarge` past the limit, `Failure.transport` when no HTTP answer came.
    static func collect(_ request: URLRequest, limit: Int) async throws -> (HTTPURLResponse, Data) {
        let collector = ResponseCollector(limit: limit)
        let session = URLSession(configuration: .ephemeral, delegate: collector, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        return try await withCheckedThrowingContinuation { continuation in
            collector.continuation = continuation
            session.dataTask(with: request).resume()
        }
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard !overflowed else { return }
        guard body.count + data.count <= limit else {
            overflowed = true
            body = Data()
            dataTask.cancel()
            return
        }
        body.append(data)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let continuation else { return }
        self.continuation = nil
        if overflowed {
            continuation.resume(throwing: Failure.tooLarge)
        } else if let error {
            continuation.resume(throwing: Failure.transport(error.localizedDescription))
        } else if let response = task.response as? HTTPURLResponse {
            continuation.resume(returning: (response, body))
        } else {
            continuation.resume(throwing: Failure.transport("not an HTTP answer"))
        }
    }
}
