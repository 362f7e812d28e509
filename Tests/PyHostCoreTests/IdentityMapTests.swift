import Foundation
import Testing

@testable import PyHostCore

@Suite struct IdentityMapTests {
    private func subordinateFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("subuid-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(arguments: [
        ("alice:100000:65536\n", true), ("alice:165535:10\n", true), ("alice:99999:2\n", true),
        ("alice:165536:65536\nbob:231072:65536\n", false), ("alice:34464:65536\n", false), ("", false),
    ])
    func refusesSubordinateRangesThatOverlapTheWorkers(text: String, overlaps: Bool) throws {
        let path = try subordinateFile(text)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect((IdentityMap.subordinateOverlap(files: [path]) != nil) == overlaps)
    }

    @Test func namesTheOverlappingLine() throws {
        let path = try subordinateFile("alice:100000:65536\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(
            IdentityMap.subordinateOverlap(files: [path])
                == "\(path) gives alice ids 100000-165535, which overlap the ids pyhost's workers use (100000-165535); move that range")
    }
}
