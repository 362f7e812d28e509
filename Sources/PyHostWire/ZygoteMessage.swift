/// What the server asks of the zygote, one JSON object per SOCK_SEQPACKET message.
public enum ZygoteRequest: Codable, Sendable, Equatable {
    /// Fork a worker; the answer is `spawned` with the same id, or `spawnFailed`.
    case spawn(id: UInt64)
}

/// What the zygote tells the server.
public enum ZygoteEvent: Codable, Sendable, Equatable {
    /// The interpreter is up and pandas imported.
    case started(python: String, pandas: String)
    /// A worker was forked; the message carries its channel and a pidfd, in that order.
    case spawned(id: UInt64, pid: Int32)
    case spawnFailed(id: UInt64, message: String)
    /// A worker ended and was reaped.
    case exited(pid: Int32, exit: WorkerExit)
}
