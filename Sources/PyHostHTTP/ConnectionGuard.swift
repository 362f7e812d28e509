import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps anonymous clients from exhausting the server's descriptors with slow or idle connections.
///
/// A connection that keeps its client's part too long is closed (see `ConnectionState` for the
/// limits). At most `capacity` connections are open, below the descriptor limit: a new connection
/// beyond it closes the one that has waited longest on its client (idle, or not reading what it
/// is sent), so slow clients cannot keep out a new one. The answers written and not yet taken by
/// clients share `unsentBudget` bytes: past it, the connections that have stopped reading longest
/// are closed until their bytes bring the total back within it, so clients that do not read
/// cannot make the server hold results without bound.
final class ConnectionGuard: Sendable {
    /// Descriptors kept for the server itself: workers' channels and pidfds, the store, the zygote.
    static let reservedDescriptors = 256
    static let defaultUnsentBudget = 256 * 1024 * 1024

    let capacity: Int
    let unsentBudget: Int
    private let unsent = Atomic<Int>(0)
    private let state = Mutex(State())

    private struct State {
        var nextID = 0
        var open: [Int: Connection] = [:]
    }

    /// An open connection. Each request sets `waitingSince` without the guard's lock: only an
    /// eviction, when the server is full, reads them all.
    fileprivate final class Connection: Sendable {
        let channel: any Channel
        /// Uptime in nanoseconds since the connection waits on its client; 0 while it is in use.
        let waitingSince = Atomic<UInt64>(0)
        /// Bytes of answers written to it and not yet taken by the kernel.
        let unsent = Atomic<Int>(0)

        init(_ channel: any Channel) {
            self.channel = channel
            waitingSince.store(max(1, NIODeadline.now().uptimeNanoseconds), ordering: .relaxed)
        }

        func setWaiting(since: NIODeadline?) {
            waitingSince.store(since.map { max(1, $0.uptimeNanoseconds) } ?? 0, ordering: .relaxed)
        }
    }

    init(capacity: Int, unsentBudget: Int = defaultUnsentBudget) {
        self.capacity = capacity
        self.unsentBudget = unsentBudget
    }

    /// Raises the soft descriptor limit to the hard one, and sizes the connection cap below it.
    static func forDescriptorLimit() -> ConnectionGuard {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let descriptors = Int(clamping: limit.rlim_cur)
        return ConnectionGuard(capacity: max(16, descriptors - reservedDescriptors))
    }

    /// A new handler for each connection.
    func handler() -> ConnectionGuardHandler {
        ConnectionGuardHandler(guard: self)
    }

    /// Registers a connection; returns its id and record, and a connection to close to make room, if any.
    fileprivate func opened(_ channel: any Channel) -> (id: Int, connection: Connection, evicted: (any Channel)?) {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            let connection = Connection(channel)
            var evicted: (any Channel)?
            if state.open.count >= capacity {
                let waiting = state.open.map { ($0.key, $0.value.waitingSince.load(ordering: .relaxed)) }.filter { $0.1 != 0 }
                let oldest = waiting.min { $0.1 < $1.1 }
                evicted = oldest.flatMap { state.open.removeValue(forKey: $0.0)?.channel } ?? channel
            }
            if evicted !== channel { state.open[id] = connection }
            return (id, connection, evicted)
        }
    }

    /// Counts `bytes` written to `connection`; past the budget, closes the connections that have
    /// waited longest on clients that do not read, until what they hold brings the total back.
    fileprivate func queued(_ bytes: Int, on connection: Connection) {
        connection.unsent.add(bytes, ordering: .relaxed)
        var excess = unsent.add(bytes, ordering: .relaxed).newValue - unsentBudget
        guard excess > 0 else { return }
        let stalled = state.withLock { state in
            state.open.values.map { ($0, $0.waitingSince.load(ordering: .relaxed), $0.unsent.load(ordering: .relaxed)) }
                .filter { $0.1 != 0 && $0.2 > 0 }
        }
        for (victim, _, held) in stalled.sorted(by: { $0.1 < $1.1 }) where excess > 0 {
            victim.channel.close(promise: nil)
            excess -= held
        }
    }

    /// Counts `bytes` of `connection`'s taken by the kernel, or dropped with it.
    fileprivate func sent(_ bytes: Int, on connection: Connection) {
        connection.unsent.subtract(bytes, ordering: .relaxed)
        unsent.subtract(bytes, ordering: .relaxed)
    }

    fileprivate func closed(_ id: Int) {
        _ = state.withLock { $0.open.removeValue(forKey: id) }
    }
}

/// One connection's deadline and its place in `ConnectionGuard`.
///
/// A request only moves the deadline (a clock read); one timer per connection checks it when due
/// and re-arms for the next one, so keep-alive calls schedule and cancel nothing.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// An answer's body is written in slices of this size, each one's completion the sign that the
    /// client is reading: a slow reader is told from one that stopped.
    static let sliceBytes = 64 * 1024

    private let connections: ConnectionGuard
    private var id: Int?
    private var connection: ConnectionGuard.Connection?
    private var state = ConnectionState(openedAt: .uptimeNanoseconds(0))
    private var timer: Scheduled<Void>?
    private var timerDue = NIODeadline.distantFuture

    init(guard connections: ConnectionGuard) {
        self.connections = connections
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let (id, connection, evicted) = connections.opened(context.channel)
        self.id = id
        self.connection = connection
        if let evicted {
            evicted.close(promise: nil)
            if evicted === context.channel { return }
        }
        state = ConnectionState(openedAt: context.eventLoop.now)
        connection.setWaiting(since: state.waitingSince)
        check(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        if let id { connections.closed(id) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: state.requestHead(at: context.eventLoop.now)
        case .end: state.requestEnd(at: context.eventLoop.now)
        case .body: break
        }
        changed(context: context)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head:
            context.write(data, promise: promise)
        case .body(var bytes):
            guard let connection, bytes.readableBytes > 0 else { return context.write(data, promise: promise) }
            // The whole body is counted until its last slice is taken or dropped: the slices share
            // its memory. Each slice taken is progress.
            let count = bytes.readableBytes
            let handler = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            connections.queued(count, on: connection)
            while let slice = bytes.readSlice(length: min(Self.sliceBytes, bytes.readableBytes)) {
                let last = bytes.readableBytes == 0
                let written = last ? promise ?? context.eventLoop.makePromise() : context.eventLoop.makePromise()
                written.futureResult.whenComplete { [connections] result in
                    if last { connections.sent(count, on: connection) }
                    guard case .success = result else { return }
                    let (handler, context) = handler.value
                    handler.state.progressed(at: context.eventLoop.now)
                    handler.changed(context: context)
                }
                context.write(wrapOutboundOut(.body(slice)), promise: written)
                if last { break }
            }
        case .end:
            // The answer ends when the kernel has taken all of it, not when its end is queued: until
            // then the client is still reading it, and the idle timeout does not apply.
            let written = promise ?? context.eventLoop.makePromise()
            let handler = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in
                let (handler, context) = handler.value
                let closing = handler.state.responseEnd(at: context.eventLoop.now)
                handler.changed(context: context)
                if closing { context.close(promise: nil) }
            }
            context.write(data, promise: written)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            state.quiesce()
            changed(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        state.writable(context.channel.isWritable, at: context.eventLoop.now)
        changed(context: context)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        if let id { connections.closed(id) }
        context.fireChannelInactive()
    }

    /// Publishes whether the connection waits on its client, and checks sooner when the deadline
    /// moved before the timer.
    private func changed(context: ChannelHandlerContext) {
        connection?.setWaiting(since: state.waitingSince)
        if let deadline = state.deadline, deadline < timerDue {
            timer?.cancel()
            check(context: context)
        }
    }

    /// Closes the connection past its deadline; otherwise checks again when it is due (or, while the
    /// server answers, one header timeout later).
    private func check(context: ChannelHandlerContext) {
        let now = context.eventLoop.now
        let deadline = state.deadline
        if let deadline, deadline <= now {
            context.close(promise: nil)
            return
        }
        timerDue = deadline ?? now + ConnectionState.headerTimeout
        let handler = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: timerDue) {
            let (handler, context) = handler.value
            handler.check(context: context)
        }
    }
}
