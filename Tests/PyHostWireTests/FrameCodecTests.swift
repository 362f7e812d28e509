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

    @Test func roundTripsFramesBackToBack() throws {
        let frames = [
            Frame(kind: .invoke, payload: ByteBuffer(string: #"{"name":"Hugues"}"#)),
            Frame(kind: .result, payload: ByteBuffer()),
            Frame(kind: .handlerError, payload: ByteBuffer(repeating: 0x41, count: 70_000)),
        ]
        var buffer = encoded(frames)
        var decoded: [Frame] = []
        while let frame = try FrameDecoder.next(from: &buffer, maximumPayload: 1 << 20) { decoded.append(frame) }
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
            #expect(try FrameDecoder.next(from: &partial, maximumPayload: 100) == nil)
            #expect(partial.readableBytes == cut, "a partial frame is left unconsumed")
        }
    }

    @Test func rejectsUnknownKinds() {
        var buffer = ByteBuffer(bytes: [0, 0, 0, 0, 99])
        #expect(throws: FrameCodecError.unknownKind(99)) { try FrameDecoder.next(from: &buffer, maximumPayload: 10) }
    }

    @Test func rejectsFramesOverTheLimitBeforeReadingThem() {
        var buffer = ByteBuffer(bytes: [0, 0, 4, 0, 11])
        #expect(throws: FrameCodecError.tooLarge(length: 1024, limit: 1023)) {
            try FrameDecoder.next(from: &buffer, maximumPayload: 1023)
        }
    }
}
