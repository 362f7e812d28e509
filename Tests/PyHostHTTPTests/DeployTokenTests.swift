import HTTPTypes
import Testing

@testable import PyHostHTTP

@Suite struct DeployTokenTests {
    let token = DeployToken("s3cret")

    /// The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
    @Test(arguments: ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret "])
    func acceptsTheBearerToken(value: String) {
        #expect(token.accepts([.authorization: value]))
    }

    @Test(arguments: ["", "Bearer", "Bearer ", "Bearer s3cre", "Bearer s3cretx", "Bearer S3cret", "Bearers3cret", "Basic s3cret", "s3cret"])
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

@Suite struct BearerCredentialTests {
    @Test(
        arguments: [
            ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER\tabc ", "abc"), ("  beArer   a b ", "a b"),
            ("Bearerabc", nil), ("Bearer", nil), ("Bearer   ", nil), ("Basic abc", nil), ("Bearé abc", nil), ("", nil),
        ] as [(String, String?)])
    func theSchemeIsMatchedInAnyCaseAndTheCredentialTrimmed(value: String, credential: String?) {
        #expect(BearerCredential.credential(value[...]).map(String.init) == credential)
    }

    @Test func everyAuthorizationFieldIsRead() {
        var headers = HTTPFields()
        headers.append(HTTPField(name: .authorization, value: "Basic dXNlcjpwdw=="))
        headers.append(HTTPField(name: .authorization, value: "Bearer foo, bearer pyk_k_1_2"))
        #expect(BearerCredential.first(in: headers) { $0.hasPrefix("pyk_") } == "pyk_k_1_2")
        let token = DeployToken("pyk_k_1_2")
        #expect(token.accepts(headers))
        #expect(!DeployToken("other").accepts(headers))
    }
}
