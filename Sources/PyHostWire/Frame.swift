import CPyHostShims
import NIOCore

/// One message on a worker's channel: a 4-byte big-endian payload length, a kind byte, the payload.
///
/// The Python side reads and writes the same layout (`python/pyhost_runtime/channel.py`).
public struct Frame: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        /// Server → worker: a JSON line `{"name", "max_response_bytes"}`, then the module's source.
        case load = 1
        /// Server → worker: a JSON line of call metadata `{"id", "function", "version", "timeout",
        /// "content_type", "accept"}`, a JSON line `{"headers", "query"}`, then the request body as received.
        case invoke = 2
        /// Server → worker, before `load`: run the warm-up; the answer is `ready`.
        case warm = 3
        /// Worker → server: the module loaded; the payload is `{"pid": …}`.
        case ready = 10
        /// Worker → server: the handler's result as JSON.
        case result = 11
        /// Worker → server: the request body is not valid JSON; the payload is the error body.
        case requestError = 12
        /// Worker → server: `handle` raised or returned something JSON cannot hold.
        case handlerError = 13
        /// Worker → server: the module does not compile.
        case syntaxError = 14
        /// Worker → server: importing the module raised, or it has no callable `handle`.
        case loadError = 15
        /// Worker → server, from its SIGSYS handler: the syscall number (4 bytes) the sandbox
        /// refused; the worker exits right after. The C shim writes it as
        /// `PYHOST_FRAME_SANDBOX_VIOLATION` (a raw value must be a literal; a test checks they agree).
        case sandboxViolation = 16
        /// Worker → server, just before an invocation's answer when the call printed or logged
        /// anything: that text, UTF-8, at most `maximumLogBytes` and a line saying how much was cut.
        case logs = 17
        /// Worker → server: an answer with its own status or headers (`pyhost.Response`, CSV): a
        /// JSON line `{"status", "headers": [[name, value], …]}`, then the body. The server checks both.
        case response = 20
        /// Worker → server: the Accept header asks for a form the result has none of; the error body.
        case notAcceptable = 21
    }

    public static let headerSize = Int(PYHOST_FRAME_HEADER_SIZE)
    /// What one invocation's logs may hold, in UTF-8 bytes (`MAX_LOG_BYTES` in capture.py).
    public static let maximumLogBytes = 64 * 1024
    /// An invoke frame's payload starts with the call's tag (its 16-character invocation id and a
    /// newline), and so does every logs and answer frame the worker sends for it: a frame meant
    /// for an earlier call (a handler that wrote its own answer, then the runtime's) is told from
    /// the answer to the call in progress. `TAG_BYTES` in channel.py.
    public static let callTagBytes = 17

    public var kind: Kind
    public var payload: ByteBuffer

    public init(kind: Kind, payload: ByteBuffer) {
        self.kind = kind
        self.payload = payload
    }
}
