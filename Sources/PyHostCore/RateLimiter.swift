/// Token buckets by name: each refills at its rate and holds one second's worth (at least one
/// call), so a caller may burst up to its rate and no further. Time is passed in.
struct RateLimiter {
    /// The longest wait a refusal names, however slow the rate: past it a client may as well retry.
    static let longestWait = Duration.seconds(3600)

    private var buckets: [String: (tokens: Double, at: ContinuousClock.Instant)] = [:]

    /// Takes a call from `name`'s bucket of `rate` calls per second. Returns nil when allowed, or
    /// how long until the bucket has a call again (at most `longestWait`).
    mutating func take(_ name: String, rate: Double, now: ContinuousClock.Instant) -> Duration? {
        let capacity = max(1, rate)
        var bucket = buckets[name] ?? (capacity, now)
        let elapsed = now - bucket.at
        bucket.tokens = min(
            capacity, bucket.tokens + rate * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
        bucket.at = now
        defer { buckets[name] = bucket }
        guard bucket.tokens >= 1 else {
            // Computed in seconds first: a tiny rate gives a wait no Duration can hold.
            return .seconds(min((1 - bucket.tokens) / rate, Double(Self.longestWait.components.seconds)))
        }
        bucket.tokens -= 1
        return nil
    }

    /// Puts back the call just taken from `name`'s bucket, when another limit refused it.
    mutating func giveBack(_ name: String) {
        buckets[name]?.tokens += 1
    }

    /// Forgets `name`'s bucket (a revoked key, a deleted function).
    mutating func forget(_ name: String) {
        buckets[name] = nil
    }
}
