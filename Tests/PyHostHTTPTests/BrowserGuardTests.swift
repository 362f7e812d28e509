import Hummingbird
import Testing

@testable import PyHostHTTP

@Suite struct BrowserGuardTests {
    typealias Guard = BrowserGuardMiddleware<BasicRequestContext>
    let guarding = Guard(publicHosts: ["Pyhost.Example"])

    @Test(arguments: [
        ("127.0.0.1:3000", true), ("localhost:3000", true), ("LOCALHOST", true), ("[::1]:3000", true), ("10.0.0.7", true),
        ("pyhost.example", true), ("pyhost.example:443", true), ("evil.example:3000", false),
        ("127.0.0.1.nip.io:3000", false), ("localhost.evil.example", false), ("[::1].evil:3000", false),
    ])
    func acceptsAddressesLocalhostAndPublicHostsOnly(authority: String, accepted: Bool) {
        #expect(guarding.accepts(authority: authority) == accepted)
    }

    @Test(arguments: [
        ("http://127.0.0.1:3000", "127.0.0.1:3000", true), ("https://Pyhost.Example", "pyhost.example", true),
        ("http://evil.example", "127.0.0.1:3000", false), ("null", "127.0.0.1:3000", false),
        ("http://127.0.0.1:8080", "127.0.0.1:3000", false),
    ])
    func anOriginMustBeTheOneTheRequestWasSentTo(origin: String, authority: String, matches: Bool) {
        #expect(Guard.origin(origin, matches: authority) == matches)
    }
}
