import Foundation
import NIOCore

/// The OpenAPI 3 document of the whole API (Resources/openapi.json), served at /openapi.json.
enum OpenAPIDocument {
    struct Missing: Error, CustomStringConvertible {
        var description: String { "openapi.json is missing from pyhost's resource bundle" }
    }

    /// Reads the document once, at start-up, so a broken installation fails there.
    static func load() throws -> ByteBuffer {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json") else { throw Missing() }
        return ByteBuffer(data: try Data(contentsOf: url))
    }
}
