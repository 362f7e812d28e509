import Foundation
import Hummingbird
import NIOCore

/// The web console's static files (Console/, with Vue fetched into Console/vendor by the set-up),
/// read once at start-up and served from memory.
struct ConsoleFiles: Sendable {
    struct File: Sendable {
        let body: ByteBuffer
        let contentType: String
    }

    /// URL path → file.
    let files: [String: File]

    static let contentTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
    ]

    static func load() -> ConsoleFiles {
        guard let root = Bundle.module.url(forResource: "Console", withExtension: nil) else { return ConsoleFiles(files: [:]) }
        var files: [String: File] = [:]
        for relative in ["index.html", "app.js", "style.css", "vendor/vue.esm-browser.prod.js"] {
            let url = root.appendingPathComponent(relative)
            guard let data = try? Data(contentsOf: url) else { continue }
            let type = contentTypes[url.pathExtension] ?? "application/octet-stream"
            files["/console/\(relative)"] = File(body: ByteBuffer(data: data), contentType: type)
        }
        files["/"] = files["/console/index.html"]
        return ConsoleFiles(files: files)
    }

    func add<Context: RequestContext>(to router: Router<Context>) {
        for (path, file) in files {
            router.get(RouterPath(path)) { _, _ in
                Response(
                    status: .ok, headers: [.contentType: file.contentType, .cacheControl: "no-cache"],
                    body: ResponseBody(byteBuffer: file.body))
            }
        }
    }
}
