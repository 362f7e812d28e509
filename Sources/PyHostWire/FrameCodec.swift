import NIOCore

/// Errors of the frame layout itself: the peer is not speaking the protocol.
public enum FrameCodecError: Error, Equatable, CustomStringConvertible {
    case unknownKind(UInt8)
    /// A kind this peer may not send at all.
    case unexpectedKind(Frame.Kind)
    case tooLarge(kind: Frame.Kind, length: Int, limit: Int)
    /// A second frame of a kind sent at most once per answer.
    case repeatedKind(Frame.Kind)
    /// A frame that does not start with the tag of the call in progress.
    case otherCall(Frame.Kind)

    public var description: String {
        switch self {
        case .unknownKind(let raw): return "the worker sent a frame of unknown kind \(raw)"
        case .unexpectedKind(let kind): return "the worker sent a \(kind) frame, which only the server sends"
        case .tooLarge(let kind, let length, let limit):
            return "the worker sent a \(kind) frame of \(length) bytes; the limit for that kind is \(limit)"
        case .repeatedKind(let kind): return "the worker sent a second \(kind) frame for one call"
        case .otherCall(let kind): return "the worker sent a \(kind) frame that does not answer the call in progress"
        }
    }
}

/// The largest payload a peer may send, per kind of frame. A kind without an entry may not be sent.
public struct FrameLimits: Sendable, Equatable {
    public var payloads: [Frame.Kind: Int]

    public init(_ payloads: [Frame.Kind: Int]) {
        self.payloads = payloads
    }

    /// The largest error body: the runtime cuts messages at 64 KiB and tracebacks at 50 frames.
    public static let errorBytes = 1 << 20

    /// What a worker may send: results and `pyhost.Response` answers (status line included) up to
    /// `maximumResponseBytes` (the runtime turns a larger one into a `ResponseTooLarge` error), logs up to `Frame.maximumLogBytes` and a line saying how
    /// much was cut, error bodies up to `errorBytes`.
    public static func worker(maximumResponseBytes: Int) -> FrameLimits {
        let tag = Frame.callTagBytes
        return FrameLimits([
            .ready: 256, .result: tag + maximumResponseBytes, .response: tag + maximumResponseBytes,
            .notAcceptable: tag + errorBytes, .requestError: tag + errorBytes, .handlerError: tag + errorBytes,
            .syntaxError: errorBytes, .loadError: errorBytes, .sandboxViolation: 4, .logs: tag + Frame.maximumLogBytes + 256,
        ])
    }
}

/// Splits a byte stream into frames, refusing any frame over its kind's limit before reading it.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Frame

    public let limits: FrameLimits

    public init(limits: FrameLimits) {
        self.limits = limits
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try Self.next(from: &buffer, limits: limits) else {
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    /// Takes one whole frame off the front of `buffer`, or nothing when it holds less than one.
    public static func next(from buffer: inout ByteBuffer, limits: FrameLimits) throws -> Frame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
            let rawKind = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt8.self)
        else { return nil }
        guard let kind = Frame.Kind(rawValue: rawKind) else { throw FrameCodecError.unknownKind(rawKind) }
        guard let limit = limits.payloads[kind] else { throw FrameCodecError.unexpectedKind(kind) }
        guard Int(length) <= limit else {
            throw FrameCodecError.tooLarge(kind: kind, length: Int(length), limit: limit)
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
