import Synchronization

/// The first of several racing outcomes, awaited once: later ones are dropped.
final class FirstOutcome<Value: Sendable>: Sendable {
    private enum State {
        case waiting(CheckedContinuation<Result<Value, any Error>, Never>?)
        case done(Result<Value, any Error>)
    }

    private let state = Mutex(State.waiting(nil))

    /// Records `outcome` unless another came first.
    func offer(_ outcome: Result<Value, any Error>) {
        let waiter: CheckedContinuation<Result<Value, any Error>, Never>? = state.withLock { state in
            guard case .waiting(let waiter) = state else { return nil }
            state = .done(outcome)
            return waiter
        }
        waiter?.resume(returning: outcome)
    }

    /// The first outcome offered, once it is. Await it from one task only.
    var value: Value {
        get async throws {
            let outcome = await withCheckedContinuation { continuation in
                let ready: Result<Value, any Error>? = state.withLock { state in
                    switch state {
                    case .done(let outcome): return outcome
                    case .waiting:
                        state = .waiting(continuation)
                        return nil
                    }
                }
                if let ready { continuation.resume(returning: ready) }
            }
            return try outcome.get()
        }
    }
}
