import PyHostWire

/// A failure of the host around an invocation or a deploy, as opposed to an exception of the
/// user's module (which is an outcome, see `InvocationOutcome` and `DeployOutcome`).
public enum HostError: Error, Equatable, Sendable {
    case invalidName(String)
    /// A query parameter is unknown or out of range; the text says which and why.
    case invalidParameter(name: String, reason: String)
    case emptySource
    case invalidUTF8Source
    case sourceTooLarge(limit: Int)
    case requestTooLarge(limit: Int)
    case functionNotFound(String)
    case versionNotFound(name: String, version: Int)
    /// The worker ended during the call; the text says how.
    case workerDied(String)
    /// The worker made a system call the sandbox forbids and was stopped; the text names it.
    case sandboxViolation(syscall: String)
    /// The module ended its worker while being imported (`os._exit`, a crash); the text says how.
    case importCrashed(String)
    case deadlineExceeded(seconds: Double)
    /// Every worker the function may have is busy and its queue is full.
    case saturated(retryAfterSeconds: Int)
    case zygoteUnavailable(String)
    /// The worker broke the channel protocol.
    case protocolViolation(String)
    /// The function store cannot answer now (locked by another process past the busy timeout, an
    /// I/O error); the text says which, without SQL.
    case storeUnavailable(String)
    /// The function store's disk is full: nothing new can be stored.
    case storeFull
    /// The function store is read-only (a read-only mount or file): it serves, but takes no change.
    case storeReadOnly
    /// The function is private and the call presented no key.
    case keyRequired(function: String)
    /// The key presented is not one this host knows (never made, or revoked).
    case invalidKey
    /// The key presented does not cover the function.
    case keyNotAllowed(keyID: String, function: String)
    /// A key's or a function's calls per second are spent; `limit` names which and its rate.
    /// `keyID` is the key whose limit it is, nil for a function's own limit.
    case rateLimited(limit: String, keyID: String?, retryAfterSeconds: Int)
    case keyNotFound(String)
    /// The module's `# /// script` requirements cannot be installed. `type` is one of
    /// `Requirements.refusals`, the text says what to change.
    case requirementsRefused(type: String, message: String)
    /// The packages of the module's environment raised, or left a thread or process, when imported.
    case packagesFailedToImport(String)
    /// A request's JSON body is not what the route takes; the text says what is wrong.
    case invalidBody(String)
}
