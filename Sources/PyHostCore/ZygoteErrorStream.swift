import CPyHostShims
import Foundation
import Logging
import PyHostWire

#if canImport(Glibc)
    import Glibc
#endif

/// The zygote's standard error: a pipe the server reads on a thread of its own and copies into its
/// log, line by line, each line cut at `maximumLine` bytes. Workers hold the pipe only until they
/// confine themselves (fd 2 then becomes /dev/null), so only set-up failures arrive here.
final class ZygoteErrorStream: Sendable {
    static let maximumLine = 4096
    /// The end the zygote gets as its fd 2; the server closes its copy once the zygote is spawned.
    let writeFD: Int32
    private let readFD: Int32
    private let finished = DispatchSemaphore(value: 0)

    init() throws {
        var fds: [Int32] = [0, 0]
        try systemCall("pipe2") { pyhost_pipe_cloexec(&fds) }
        readFD = fds[0]
        writeFD = fds[1]
    }

    /// Starts copying lines into `logger` until every writer has closed the pipe.
    func forward(to logger: Logger) {
        Thread.detachNewThread { [self] in
            var pending: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                pending += chunk[..<count]
                while let end = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    emit(pending[..<end], to: logger)
                    pending.removeSubrange(...end)
                }
                if pending.count > Self.maximumLine {
                    emit(pending[...], to: logger)
                    pending = []
                }
            }
            if !pending.isEmpty { emit(pending[...], to: logger) }
            close(readFD)
            finished.signal()
        }
    }

    /// Waits up to `timeout` for the last writer to close the pipe and its lines to be logged.
    func waitForEnd(timeout: Duration) {
        _ = finished.wait(timeout: .now() + .milliseconds(Int(timeout.components.seconds * 1000)))
    }

    private func emit(_ line: ArraySlice<UInt8>, to logger: Logger) {
        let text = String(decoding: line.prefix(Self.maximumLine), as: UTF8.self)
        logger.error("\(text)", metadata: ["source": "zygote"])
    }
}
