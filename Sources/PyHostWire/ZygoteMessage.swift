/// What the server asks of the zygote, one JSON object per SOCK_SEQPACKET message.
public enum ZygoteRequest: Codable, Sendable, Equatable {
    /// The server wrote the zygote's uid and gid maps: a range with room for an unprivileged worker
    /// identity, or (`fullRange` false) only the server's own ids; or it could not (`error`).
    case identityMapped(fullRange: Bool, error: String?)
    /// Fork a worker; the answer is `spawned` with the same id, or `spawnFailed`.
    case spawn(id: UInt64, limits: WorkerLimits)
}

/// What the zygote tells the server.
public enum ZygoteEvent: Codable, Sendable, Equatable {
    /// The zygote entered a new user namespace: the server, privileged in the parent namespace,
    /// must write its uid and gid maps, then answer `identityMapped`.
    case identityMapRequested
    /// The interpreter is up, pandas imported, and these layers confine every worker.
    case started(python: String, pandas: String, layers: [SandboxLayer])
    /// Some layers could not be set up and weaker isolation was not allowed; the zygote exits.
    case refused(missing: [MissingLayer])
    /// An environment's zygote could not import its packages (the text says why); it exits.
    case failed(message: String)
    /// A worker was forked; the message carries its channel and a pidfd, in that order.
    case spawned(id: UInt64, pid: Int32)
    case spawnFailed(id: UInt64, message: String)
    /// A worker ended and was reaped; `id` is its spawn's, which unlike a pid is never reused.
    case exited(id: UInt64, pid: Int32, exit: WorkerExit)
}
