import NIOCore

/// What one connection is doing, and so how long it may stay as it is: a pure state machine that
/// `ConnectionGuardHandler` feeds with what it reads and writes.
///
/// - Waiting for a request head (none in progress): `headerTimeout` from the last answer's end.
/// - Reading a request's body: `bodyTimeout` from its head.
/// - Answering (every request read, an answer owed): no limit here; the call's deadline bounds it.
/// - The client not reading what is written (the channel unwritable, and no slice of the answer
///   taken since): `sendTimeout`.
///
/// Requests are counted, not flagged, so a pipelined request read while an earlier one is answered
/// leaves the right limit behind; an answer sent before its request's body ended closes the
/// connection.
struct ConnectionState {
    static let headerTimeout = TimeAmount.seconds(10)
    static let bodyTimeout = TimeAmount.seconds(60)
    static let sendTimeout = TimeAmount.seconds(60)
    /// The send timeout once the server is stopping: an answer still being read goes on while the
    /// client takes it, but a client that takes nothing does not hold the stop for a minute.
    static let stoppingSendTimeout = TimeAmount.seconds(5)

    /// Requests whose head came and whose answer has not ended.
    private var unanswered = 0
    /// When the body being read is due; nil when no request is being read.
    private var bodyDue: NIODeadline?
    /// Since when nothing is owed either way, waiting for the client's next request.
    private var idleSince: NIODeadline?
    private var sendLimit = Self.sendTimeout
    /// Since when the client, behind on what is written, has taken none of it; nil while it keeps up.
    private var blockedSince: NIODeadline?

    init(openedAt now: NIODeadline) {
        idleSince = now
    }

    mutating func requestHead(at now: NIODeadline) {
        unanswered += 1
        bodyDue = now + Self.bodyTimeout
        idleSince = nil
    }

    mutating func requestEnd(at now: NIODeadline) {
        bodyDue = nil
        if unanswered == 0 { idleSince = now }
    }

    /// Returns whether the connection is to close once this answer is sent: it answered the request
    /// whose body is still arriving (a refusal before the body was read), and reading the rest only
    /// to throw it away would let a client keep the server busy for as long as it sends.
    mutating func responseEnd(at now: NIODeadline) -> Bool {
        // An answer with no request (a malformed head refused) owes nothing.
        unanswered = max(0, unanswered - 1)
        if unanswered == 0 && bodyDue == nil { idleSince = now }
        return unanswered == 0 && bodyDue != nil
    }

    mutating func writable(_ writable: Bool, at now: NIODeadline) {
        blockedSince = writable ? nil : (blockedSince ?? now)
    }

    /// The server is stopping.
    mutating func quiesce() {
        sendLimit = Self.stoppingSendTimeout
    }

    /// The client took some of what was written: while it is behind, it is behind since now.
    mutating func progressed(at now: NIODeadline) {
        if blockedSince != nil { blockedSince = now }
    }

    /// When the connection is closed unless the client moves on; nil while the server answers.
    var deadline: NIODeadline? {
        earliest(earliest(blockedSince.map { $0 + sendLimit }, bodyDue), idleSince.map { $0 + Self.headerTimeout })
    }

    /// Since when the client keeps the connection without using it (idle, or not reading): such a
    /// connection is the first closed to make room for a new one. Nil while it is in use.
    var waitingSince: NIODeadline? {
        earliest(blockedSince, idleSince)
    }
}

private func earliest(_ one: NIODeadline?, _ other: NIODeadline?) -> NIODeadline? {
    guard let one, let other else { return one ?? other }
    return min(one, other)
}
