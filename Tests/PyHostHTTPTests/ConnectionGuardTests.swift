import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

@testable import PyHostHTTP

@Suite struct ConnectionGuardTests {
    private func connect(_ connections: ConnectionGuard, on loop: EmbeddedEventLoop) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.pipeline.syncOperations.addHandler(connections.handler())
        return channel
    }

    private let head = HTTPRequestPart.head(HTTPRequest(method: .post, scheme: nil, authority: nil, path: "/"))

    @Test func aConnectionBeyondTheCapClosesTheOldestStillWaitingForAHead() throws {
        let loop = EmbeddedEventLoop()
        let connections = ConnectionGuard(capacity: 2)
        let oldest = try connect(connections, on: loop)
        loop.advanceTime(by: .milliseconds(1))
        let busy = try connect(connections, on: loop)
        try busy.writeInbound(head)
        let newest = try connect(connections, on: loop)
        #expect(!oldest.isActive && busy.isActive && newest.isActive)
    }

    @Test func aConnectionBeyondTheCapIsClosedWhenEveryOtherIsBusy() throws {
        let loop = EmbeddedEventLoop()
        let connections = ConnectionGuard(capacity: 1)
        let busy = try connect(connections, on: loop)
        try busy.writeInbound(head)
        let refused = try connect(connections, on: loop)
        #expect(busy.isActive && !refused.isActive)
    }

    @Test func aHeadMustArriveWithinTheHeaderTimeoutAndABodyWithinTheBodyTimeout() throws {
        let loop = EmbeddedEventLoop()
        let connections = ConnectionGuard(capacity: 10)
        let silent = try connect(connections, on: loop)
        let slowBody = try connect(connections, on: loop)
        loop.advanceTime(by: ConnectionGuard.headerTimeout - .milliseconds(1))
        try slowBody.writeInbound(head)
        loop.advanceTime(by: .milliseconds(1))
        #expect(!silent.isActive && slowBody.isActive)
        loop.advanceTime(by: ConnectionGuard.bodyTimeout)
        #expect(!slowBody.isActive)
    }

    /// A call the server takes long to answer is not the client's delay; after the answer, the next
    /// head is due within the header timeout again.
    @Test func theHeaderTimeoutRestartsAfterEachAnswerAndPausesWhileTheServerAnswers() throws {
        let loop = EmbeddedEventLoop()
        let channel = try connect(ConnectionGuard(capacity: 10), on: loop)
        for _ in 0..<3 {
            loop.advanceTime(by: ConnectionGuard.headerTimeout - .milliseconds(1))
            try channel.writeInbound(head)
            try channel.writeInbound(HTTPRequestPart.end(nil))
            loop.advanceTime(by: ConnectionGuard.bodyTimeout * 2)
            #expect(channel.isActive)
            try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
            try channel.writeOutbound(HTTPResponsePart.end(nil))
        }
        loop.advanceTime(by: ConnectionGuard.headerTimeout - .milliseconds(1))
        #expect(channel.isActive)
        loop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
    }
}
