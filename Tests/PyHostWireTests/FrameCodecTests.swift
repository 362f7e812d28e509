import CPyHostShims
import NIOCore
import Testing

@testable import PyHostWire

@Suite struct FrameCodecTests {
    /// The C shim's SIGSYS reporter writes the frame the server decodes.
    @Test func theShimAndTheWireAgreeOnTheViolationFrame() {
        #expect(Frame.Kind.sandboxViolation.rawValue == UInt8(PYHOST_FRAME_SANDBOX_VIOLATION))
        #expect(Frame.headerSize == 5)
    }

    private func encoded(_ frames: [Frame]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for frame in frames { FrameEncoder.write(frame, to: &buffer) }
        return buffer
    }

    private let limits = FrameLimits([.invoke: 1 << 20, .result: 1 << 20, .handlerError: 1 << 20, .ready: 100, .logs: 1023])

    @Test func roundTripsFramesBackToBack() throws {
        let frames = [
            Frame(kind: .invoke, payload: ByteBuffer(string: #"{"name":"Hugues"}"#)),
            Frame(kind: .result, payload: ByteBuffer()),
            Frame(kind: .handlerError, payload: ByteBuffer(repeating: 0x41, count: 70_000)),
        ]
        var buffer = encoded(frames)
        var decoded: [Frame] = []
        while let frame = try FrameDecoder.next(from: &buffer, limits: limits) { decoded.append(frame) }
        #expect(decoded == frames)
        #expect(buffer.readableBytes == 0)
    }

    @Test func headerIsBigEndianLengthThenKind() {
        let buffer = encoded([Frame(kind: .load, payload: ByteBuffer(string: "ab"))])
        #expect(Array(buffer.readableBytesView) == [0, 0, 0, 2, 1, UInt8(ascii: "a"), UInt8(ascii: "b")])
    }

    @Test func waitsForAWholeFrame() throws {
        let whole = encoded([Frame(kind: .ready, payload: ByteBuffer(string: "12345"))])
        for cut in 0..<whole.readableBytes {
            var partial = whole.getSlice(at: 0, length: cut)!
            #expect(try FrameDecoder.next(from: &partial, limits: limits) == nil)
            #expect(partial.readableBytes == cut, "a partial frame is left unconsumed")
        }
    }

    @Test func rejectsUnknownKinds() {
        var buffer = ByteBuffer(bytes: [0, 0, 0, 0, 99])
        #expect(throws: FrameCodecError.unknownKind(99)) { try FrameDecoder.next(from: &buffer, limits: limits) }
    }

    @Test func rejectsFramesOverTheirKindsLimitBeforeReadingThem() throws {
        var logs = ByteBuffer(bytes: [0, 0, 4, 0, 17])
        #expect(throws: FrameCodecError.tooLarge(kind: .logs, length: 1024, limit: 1023)) {
            try FrameDecoder.next(from: &logs, limits: limits)
        }
        var result = ByteBuffer(bytes: [0, 0, 4, 0, 11])
        #expect(try FrameDecoder.next(from: &result, limits: limits) == nil, "a result of 1024 bytes is within its limit")
    }

    @Test func rejectsKindsThePeerMayNotSend() {
        var buffer = ByteBuffer(bytes: [0, 0, 0, 0, 1])
        #expect(throws: FrameCodecError.unexpectedKind(.load)) { try FrameDecoder.next(from: &buffer, limits: limits) }
    }

    @Test func aWorkersLimitsCapEveryKindItSends() {
        let limits = FrameLimits.worker(maximumResponseBytes: 5000)
        #expect(limits.payloads[.result] == Frame.callTagBytes + 5000, "a result of the limit, and its call's tag")
        #expect(limits.payloads[.logs] == Frame.callTagBytes + Frame.maximumLogBytes + 256)
        #expect(limits.payloads[.sandboxViolation] == 4)
        #expect(limits.payloads[.load] == nil && limits.payloads[.invoke] == nil && limits.payloads[.warm] == nil)
    }
}
