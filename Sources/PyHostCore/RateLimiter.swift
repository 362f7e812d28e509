/// Token buckets by name: each refills at its rate and holds one second's worth (at least one
/// call), so a caller may burst up to its rate and no further. Time is passed in.
struct RateLimiter {
    private var buckets: [String: (tokens: Double, at: ContinuousClock.Instant)] = [:]

    /// Takes a call from `name`'s bucket of `rate` calls per second. Returns nil when allowed, or
    /// how long until the bucket has a call again.
    mutating func take(_ name: String, rate: Double, now: ContinuousClock.Instant) -> Duration? {
        let capacity = max(1, rate)
        var bucket = buckets[name] ?? (capacity, now)
        let elapsed = now - bucket.at
        bucket.tokens = min(
            capacity, bucket.tokens + rate * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
        bucket.at = now
        defer { buckets[name] = bucket }
        guard bucket.tokens >= 1 else { return .seconds((1 - bucket.tokens) / rate) }
        bucket.tokens -= 1
        return nil
    }

    /// Forgets `name`'s bucket (a revoked key, a deleted function).
    mutating func forget(_ name: String) {
        buckets[name] = nil
    }
}
