import HTTPTypes
import Testing

@testable import PyHostHTTP

@Suite struct DeployTokenTests {
    let token = DeployToken("s3cret")

    @Test func acceptsTheBearerToken() {
        #expect(token.accepts([.authorization: "Bearer s3cret"]))
    }

    @Test(arguments: ["", "Bearer", "Bearer ", "Bearer s3cre", "Bearer s3cretx", "bearer s3cret", "Basic s3cret", "s3cret"])
    func refusesAnythingElse(value: String) {
        #expect(!token.accepts(value.isEmpty ? [:] : [.authorization: value]))
    }

    @Test(arguments: [
        ("127.0.0.1", true), ("127.1.2.3", true), ("localhost", true), ("::1", true),
        ("0.0.0.0", false), ("::", false), ("192.168.1.10", false), ("example.com", false),
        ("127.evil.example", false), ("127.0.0.1.nip.io", false), ("::1.example", false), ("0:0:0:0:0:0:0:1", true),
        ("::ffff:10.0.0.1", false), ("", false),
    ])
    func loopbackAddresses(address: String, loopback: Bool) {
        #expect(PyHostServer.isLoopback(address) == loopback)
    }
}
