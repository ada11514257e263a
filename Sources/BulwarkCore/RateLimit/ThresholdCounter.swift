/// Counts events per key and fires when `limit.count` of them happen within `limit.periodMs`
/// (leaky: older events drain at the same rate), then starts again from zero.
///
/// The ladder uses two: refused requests per connection (fires: close 4008) and abuse closes per
/// address or key (fires: a ban). One GCRA bucket per key, so memory stays O(1) per key.
public final class ThresholdCounter: Sendable {
    public let limit: RateLimit
    private let table: RateLimitTable

    public init(limit: RateLimit, capacity: Int = 100_000) {
        self.limit = limit
        self.table = RateLimitTable(capacity: capacity)
    }

    /// Records one event; true when it is the one that reaches the threshold.
    public func record(_ key: String, nowMs: Int64) -> Bool {
        let decision = table.charge(key, cost: 1, limit: limit, nowMs: nowMs)
        guard !decision.allowed || decision.remaining == 0 else { return false }
        table.reset(key)
        return true
    }

    /// Events counted now (after draining), for status pages and tests.
    public func count(_ key: String, nowMs: Int64) -> Int64 { limit.count - table.peek(key, limit: limit, nowMs: nowMs).remaining }

    public func reset(_ key: String) { table.reset(key) }
}
