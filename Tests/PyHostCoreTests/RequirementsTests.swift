import CPyHostShims
import Foundation
import PyHostWire
import Testing

@testable import PyHostCore

@Suite struct RequirementsTests {
    /// The block is the lines from `# /// script` to `# ///`: the key a node remembers a resolution by.
    @Test func theBlockIsItsLinesOrNothing() {
        let block = "# /// script\n# dependencies = [\"tabulate\"]\n# ///"
        #expect(Requirements.block(in: block + "\nimport tabulate\n") == block)
        #expect(Requirements.block(in: "import os\n" + block + "\n") == block)
        #expect(Requirements.block(in: "def handle(r):\n    return 1\n") == nil)
        // Unclosed, or two blocks: the installer answers those (InvalidRequirements), never a memory.
        #expect(Requirements.block(in: "# /// script\n# dependencies = []\n") == nil)
        #expect(Requirements.block(in: block + "\n" + block + "\n") == nil)
        // PEP 723's expression: the block ends at the last `# ///` of the comment lines after it.
        let nested = "# /// script\n# x = 1\n# ///\n# ///\nimport os\n"
        #expect(Requirements.block(in: nested) == "# /// script\n# x = 1\n# ///\n# ///")
        // A carriage return anywhere: the installer refuses the module, so nothing is remembered.
        #expect(Requirements.block(in: "x = 1\r\n" + block + "\n") == nil)
        // Indented or trailing text is not the opening line.
        #expect(Requirements.block(in: "  # /// script\n# ///\n") == nil)
    }

    /// Stored and shown with every field, `environment` null when the host has every package.
    @Test func encodesEveryFieldAndRoundTrips() throws {
        let requirements = Requirements(declared: ["numpy"], packages: [], environment: nil, shadows: [], modules: ["numpy"])
        let json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(requirements)) as? [String: Any])
        #expect(Set(json.keys) == ["declared", "packages", "environment", "shadows", "modules"])
        #expect(json["environment"] is NSNull)
        #expect(try JSONDecoder().decode(Requirements.self, from: JSONEncoder().encode(requirements)) == requirements)
    }

    /// The zygote's command line carries its environment whole.
    @Test func theZygotesArgumentsRoundTrip() {
        let environment = ZygoteEnvironment(
            directory: "/data/environments/ab/site-packages", modules: ["tabulate", "pandas"], identityOffset: 2048,
            memoryBytes: 1 << 30)
        #expect(ZygoteEnvironment.parse(["--allow-weaker-sandbox"] + environment.arguments) == environment)
        #expect(ZygoteEnvironment.parse(["--allow-weaker-sandbox"]) == nil)
    }

    /// A worker's pid comes from its pidfd, not from what a zygote says; anything else is refused.
    @Test func aPidComesOnlyFromAPidfd() throws {
        let pidfd = pyhost_pidfd_open(getpid())
        try #require(pidfd >= 0)
        defer { close(pidfd) }
        #expect(ZygoteClient.processID(ofPIDFD: pidfd) == getpid())
        var pipe: [Int32] = [0, 0]
        try #require(Glibc.pipe(&pipe) == 0)
        defer { pipe.forEach { close($0) } }
        #expect(ZygoteClient.processID(ofPIDFD: pipe[0]) == nil)
        #expect(ZygoteClient.processID(ofPIDFD: 9999) == nil)
    }
}
