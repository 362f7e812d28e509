import NIOCore

/// Errors of the frame layout itself: the peer is not speaking the protocol.
public enum FrameCodecError: Error, Equatable {
    case unknownKind(UInt8)
    case tooLarge(length: Int, limit: Int)
}

/// Splits a byte stream into frames, refusing any frame longer than `maximumPayload`.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Frame

    public let maximumPayload: Int

    public init(maximumPayload: Int) {
        self.maximumPayload = maximumPayload
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try Self.next(from: &buffer, maximumPayload: maximumPayload) else {
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    /// Takes one whole frame off the front of `buffer`, or nothing when it holds less than one.
    public static func next(from buffer: inout ByteBuffer, maximumPayload: Int) throws -> Frame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
            let rawKind = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt8.self)
        else { return nil }
        guard let kind = Frame.Kind(rawValue: rawKind) else { throw FrameCodecError.unknownKind(rawKind) }
        guard Int(length) <= maximumPayload else {
            throw FrameCodecError.tooLarge(length: Int(length), limit: maximumPayload)
        }
        guard buffer.readableBytes >= Frame.headerSize + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: Frame.headerSize)
        let payload = buffer.readSlice(length: Int(length))!
        return Frame(kind: kind, payload: payload)
    }
}

/// Writes frames in the layout `FrameDecoder` reads.
public struct FrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Frame

    public init() {}

    public func encode(data frame: Frame, out: inout ByteBuffer) throws {
        Self.write(frame, to: &out)
    }

    public static func write(_ frame: Frame, to out: inout ByteBuffer) {
        out.reserveCapacity(minimumWritableBytes: Frame.headerSize + frame.payload.readableBytes)
        out.writeInteger(UInt32(frame.payload.readableBytes))
        out.writeInteger(frame.kind.rawValue)
        var payload = frame.payload
        out.writeBuffer(&payload)
    }
}
