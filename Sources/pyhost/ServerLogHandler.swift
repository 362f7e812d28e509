import Logging

/// The server's log lines: `StreamLogHandler`'s, on standard error, with the logger's metadata
/// formatted only when a line is written. Hummingbird gives each request a logger with the
/// request's id; `StreamLogHandler` formats metadata as soon as it is set, which cost every call
/// a few µs though a warm call writes no line.
struct ServerLogHandler: LogHandler {
    private var output: StreamLogHandler
    var metadata: Logger.Metadata = [:]

    init(label: String) {
        output = .standardError(label: label)
    }

    var logLevel: Logger.Level {
        get { output.logLevel }
        set { output.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        if !metadata.isEmpty { event.metadata = metadata.merging(event.metadata ?? [:]) { $1 } }
        output.log(event: event)
    }
}
