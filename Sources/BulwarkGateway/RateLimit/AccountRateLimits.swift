import BulwarkCore
import Synchronization

/// The per-account buckets (`weight`, `orders`, `orders_day`, `cancels`), shared by all of an
/// account's sessions and connections on this node, with limits from the account's tier.
///
/// Limits are per node today: with several gateway nodes an account gets each node's allowance
/// (docs/rate-limits.md, "Cluster"). The scale-out issue moves these tables to shared storage.
final class AccountRateLimits: Sendable {
    let settings: RateLimitSettings
    private let tables: [RateBucket: RateLimitTable]
    private let tiers: AccountTierDirectory

    init(settings: RateLimitSettings, tierOf: @escaping @Sendable (String) -> AccountTier?) {
        self.settings = settings
        var tables: [RateBucket: RateLimitTable] = [:]
        for bucket in RateBucket.allCases where bucket.scope == .account { tables[bucket] = RateLimitTable() }
        self.tables = tables
        self.tiers = AccountTierDirectory(load: tierOf)
    }

    func tier(accountID: String) -> AccountTier { tiers.tier(accountID: accountID) }

    /// An operator changed the account's tier: read it again at its next request.
    func forgetTier(accountID: String) { tiers.forget(accountID: accountID) }

    func limit(_ bucket: RateBucket, accountID: String) -> RateLimit? {
        settings.tier(tier(accountID: accountID)).limit(bucket)
    }

    func charge(_ bucket: RateBucket, cost: Int64, accountID: String, nowMs: Int64) -> RateDecision? {
        guard let table = tables[bucket], let limit = limit(bucket, accountID: accountID) else { return nil }
        return table.charge(accountID, cost: cost, limit: limit, nowMs: nowMs)
    }

    func peek(_ bucket: RateBucket, accountID: String, nowMs: Int64) -> RateDecision? {
        guard let table = tables[bucket], let limit = limit(bucket, accountID: accountID) else { return nil }
        return table.peek(accountID, limit: limit, nowMs: nowMs)
    }
}

/// Account tiers, read from the store once and cached; the change feed invalidates an entry.
final class AccountTierDirectory: Sendable {
    private let cache = Mutex<[String: AccountTier]>([:])
    private let load: @Sendable (String) -> AccountTier?

    init(load: @escaping @Sendable (String) -> AccountTier?) { self.load = load }

    func tier(accountID: String) -> AccountTier {
        if let cached = cache.withLock({ $0[accountID] }) { return cached }
        // An unknown account (or a store error) gets the standard tier, the most restrictive.
        let tier = load(accountID) ?? .standard
        cache.withLock { cache in
            if cache.count >= 100_000 { cache.removeAll() }
            cache[accountID] = tier
        }
        return tier
    }

    func forget(accountID: String) { _ = cache.withLock { $0.removeValue(forKey: accountID) } }
}
