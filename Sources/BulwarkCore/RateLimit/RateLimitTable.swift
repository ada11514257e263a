import Synchronization

/// GCRA buckets by key (an IP address, an account id), one integer of state per key, charged
/// under one lock so that concurrent requests of the same key are counted exactly.
///
/// A full bucket carries no information, so keys whose bucket has refilled are dropped when the
/// table reaches `capacity`. If it is still full after that (more than `capacity` keys busy at
/// once) a new key is admitted without being tracked: failing open per key is safe because the
/// node-wide limits still apply, while failing closed would let an attacker lock everyone out.
public final class RateLimitTable: Sendable {
    public let capacity: Int
    private let buckets = Mutex<[String: GCRAState]>([:])

    public init(capacity: Int = 100_000) { self.capacity = capacity }

    public func charge(_ key: String, cost: Int64 = 1, limit: RateLimit, nowMs: Int64) -> RateDecision {
        buckets.withLock { buckets in
            if buckets[key] == nil && buckets.count >= capacity {
                buckets = buckets.filter { !$0.value.isIdle(nowMs: nowMs) }
                if buckets.count >= capacity {
                    var untracked = GCRAState()
                    return untracked.charge(cost, limit: limit, nowMs: nowMs)
                }
            }
            var state = buckets[key, default: GCRAState()]
            let decision = state.charge(cost, limit: limit, nowMs: nowMs)
            buckets[key] = state
            return decision
        }
    }

    /// Spends `cost` units of the key's bucket that were spent on another node (see `GCRAState.absorb`).
    public func absorb(_ key: String, cost: Int64, limit: RateLimit, nowMs: Int64) {
        buckets.withLock { buckets in
            guard buckets[key] != nil || buckets.count < capacity else { return }
            var state = buckets[key, default: GCRAState()]
            state.absorb(cost, limit: limit, nowMs: nowMs)
            buckets[key] = state
        }
    }

    /// The key's bucket without charging it.
    public func peek(_ key: String, limit: RateLimit, nowMs: Int64) -> RateDecision {
        buckets.withLock { ($0[key] ?? GCRAState()).peek(limit: limit, nowMs: nowMs) }
    }

    /// Refills the key's bucket (an operator lifted a ban, a threshold fired).
    public func reset(_ key: String) { buckets.withLock { _ = $0.removeValue(forKey: key) } }

    public var trackedKeys: Int { buckets.withLock { $0.count } }
}
