import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web console's static files: every file under Console/, with Vue and CodeMirror fetched into
/// Console/vendor by the set-up, read once at start-up and served from memory.
struct ConsoleFiles: Sendable {
    struct File: Sendable {
        let body: ByteBuffer
        let contentType: String
    }

    /// URL path → file.
    let files: [String: File]

    static let contentTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml",
    ]

    static func load() -> ConsoleFiles {
        guard let root = Bundle.module.url(forResource: "Console", withExtension: nil) else { return ConsoleFiles(files: [:]) }
        var files: [String: File] = [:]
        let prefix = root.standardizedFileURL.path + "/"
        let listing = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])?.allObjects ?? []
        for case let url as URL in listing {
            guard (try? url.resourceValues(forKeys: [URLResourceKey.isRegularFileKey]).isRegularFile) == true,
                let data = try? Data(contentsOf: url)
            else { continue }
            let relative = url.standardizedFileURL.path.dropFirst(prefix.count)
            let type = contentTypes[url.pathExtension] ?? "application/octet-stream"
            files["/console/\(relative)"] = File(body: ByteBuffer(data: data), contentType: type)
        }
        files["/"] = files["/console/index.html"]
        // Browsers ask for /favicon.ico whatever the page says; a 404 there is an error in their console.
        files["/favicon.ico"] = files["/console/favicon.svg"]
        return ConsoleFiles(files: files)
    }

    func add<Context: RequestContext>(to router: Router<Context>) {
        let headers = securityHeaders
        for (path, file) in files {
            router.get(RouterPath(path)) { _, _ in
                var fields = headers
                fields[.contentType] = file.contentType
                fields[.cacheControl] = "no-cache"
                return Response(status: .ok, headers: fields, body: ResponseBody(byteBuffer: file.body))
            }
        }
    }

    /// What the console's pages may do: load scripts, styles and data from this server only, run
    /// no inline script but the import map (allowed by its digest), never be framed, never be read
    /// as another type, and send no referrer. Vue compiles the components' templates at run time,
    /// which needs 'unsafe-eval'. CodeMirror styles the editor, in a shadow root, with constructed
    /// style sheets, which 'style-src' does not govern.
    var securityHeaders: HTTPFields {
        let policy = [
            "default-src 'none'", "script-src 'self' 'unsafe-eval' \(importMapDigests.map { "'\($0)'" }.joined(separator: " "))",
            "style-src 'self'", "img-src 'self' data:", "connect-src 'self'", "base-uri 'none'", "form-action 'none'",
            "frame-ancestors 'none'",
        ]
        return [
            .contentSecurityPolicy: policy.joined(separator: "; "), .xContentTypeOptions: "nosniff",
            .referrerPolicy: "no-referrer", .xFrameOptions: "DENY",
        ]
    }

    /// `sha256-…` of each inline `<script type="importmap">` of index.html.
    var importMapDigests: [String] {
        guard let page = files["/console/index.html"] else { return [] }
        let html = String(buffer: page.body)
        var digests: [String] = []
        var rest = html[...]
        while let open = rest.range(of: "<script type=\"importmap\">"), let close = rest[open.upperBound...].range(of: "</script>") {
            let script = rest[open.upperBound..<close.lowerBound]
            digests.append("sha256-" + Data(SHA256.hash(data: Data(script.utf8))).base64EncodedString())
            rest = rest[close.upperBound...]
        }
        return digests
    }
}

extension HTTPField.Name {
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xFrameOptions = Self("X-Frame-Options")!
}
