import Logging

/// The server's log lines: `StreamLogHandler`'s, on standard error, with the logger's metadata
/// formatted only when a line is written. Hummingbird makes a logger for each request and sets
/// the request's id in its metadata; `StreamLogHandler` formats metadata as soon as it is set,
/// which cost every call a few µs though a warm call writes no line.
struct ServerLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    init(label: String) {
        self.label = label
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        if !metadata.isEmpty { event.metadata = metadata.merging(event.metadata ?? [:]) { $1 } }
        StreamLogHandler.standardError(label: label).log(event: event)
    }
}
