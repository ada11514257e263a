import BulwarkCore
import Synchronization

/// The per-account buckets (`weight`, `orders`, `orders_day`, `cancels`), shared by all of an
/// account's sessions and connections on this node, with limits from the account's tier.
///
/// With several gateway nodes on one PostgreSQL store, `ledger` makes them cluster-wide: what this
/// node admits is reported to the others, and what they admitted is absorbed here
/// (`ClusterRateLedger`, `ClusterRateSync`; the error bound is in docs/rate-limits.md, "Cluster").
final class AccountRateLimits: Sendable {
    let settings: RateLimitSettings
    private let tables: [RateBucket: RateLimitTable]
    private let tiers: AccountTierDirectory
    let ledger: ClusterRateLedger?

    init(settings: RateLimitSettings, tierOf: @escaping @Sendable (String) -> AccountTier?, ledger: ClusterRateLedger? = nil) {
        self.settings = settings
        self.ledger = ledger
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
        let decision = table.charge(accountID, cost: cost, limit: limit, nowMs: nowMs)
        if decision.allowed { ledger?.recordLocal(.init(bucket: bucket.rawValue, subject: accountID), cost: decision.cost) }
        return decision
    }

    /// Spending other nodes admitted for these accounts (from `ClusterRateLedger.remoteSpending`).
    func absorb(_ spending: [ClusterRateLedger.Key: Int64], nowMs: Int64) {
        for (key, cost) in spending {
            guard let bucket = RateBucket(rawValue: key.bucket), let table = tables[bucket],
                let limit = limit(bucket, accountID: key.subject)
            else { continue }
            table.absorb(key.subject, cost: cost, limit: limit, nowMs: nowMs)
        }
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
