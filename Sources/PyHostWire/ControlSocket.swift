import CPyHostShims
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One end of the server–zygote SOCK_SEQPACKET pair: JSON messages, optionally with descriptors.
public struct ControlSocket: Sendable {
    public let fd: Int32

    /// The largest message either side sends.
    public static let maximumMessage = 64 * 1024

    public init(fd: Int32) {
        self.fd = fd
    }

    /// Creates a connected, close-on-exec pair.
    public static func pair() throws -> (ControlSocket, ControlSocket) {
        var fds: [Int32] = [0, 0]
        try systemCall("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
        return (ControlSocket(fd: fds[0]), ControlSocket(fd: fds[1]))
    }

    public func send<Message: Encodable>(_ message: Message, fds: [Int32] = []) throws {
        let data = try JSONEncoder().encode(message)
        _ = try data.withUnsafeBytes { bytes in
            try systemCall("sendmsg") { pyhost_send_with_fds(fd, bytes.baseAddress, bytes.count, fds, Int32(fds.count)) }
        }
    }

    /// Blocks for the next message. Returns nil at end of stream (the peer closed or died).
    public func receive<Message: Decodable>(_ type: Message.Type) throws -> (Message, [Int32])? {
        var buffer = [UInt8](repeating: 0, count: Self.maximumMessage)
        var fds: [Int32] = [-1, -1, -1, -1]
        var fdCount: Int32 = 0
        let count = try buffer.withUnsafeMutableBytes { bytes in
            try systemCall("recvmsg") {
                pyhost_receive_with_fds(fd, bytes.baseAddress, bytes.count, &fds, 4, &fdCount)
            }
        }
        if count == 0 && fdCount == 0 { return nil }
        let received = Array(fds[0..<Int(fdCount)])
        do {
            return (try JSONDecoder().decode(Message.self, from: Data(buffer[0..<count])), received)
        } catch {
            received.forEach { _ = Glibc.close($0) }
            throw error
        }
    }

    public func close() {
        _ = Glibc.close(fd)
    }
}
