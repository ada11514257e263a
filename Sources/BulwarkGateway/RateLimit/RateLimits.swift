import BulwarkCore
import Logging

/// The node's rate limiting, wired once: pre-upgrade admission, account buckets, and the abuse
/// ladder's bans. Per-connection buckets live in each connection's `ConnectionRateGuard`.
final class RateLimits: Sendable {
    let settings: RateLimitSettings
    let abuse: AbuseControl
    let admission: AdmissionControl
    let accounts: AccountRateLimits

    init(
        settings: RateLimitSettings, logger: Logger, tierOf: @escaping @Sendable (String) -> AccountTier?,
        journal: @escaping @Sendable (BanList.Ban) -> Void = { _ in }, ledger: ClusterRateLedger? = nil
    ) {
        self.settings = settings
        abuse = AbuseControl(policy: settings.abuse, logger: logger, journal: journal)
        admission = AdmissionControl(settings: settings, abuse: abuse)
        accounts = AccountRateLimits(settings: settings, tierOf: tierOf, ledger: ledger)
    }
}

/// What `usage` reports (PROTOCOL.md §2): the bucket a request was charged to, after the charge.
struct RateUsage: Sendable, Equatable {
    let bucket: RateBucket
    let decision: RateDecision

    func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("bucket")
        w.string(bucket.rawValue)
        w.key("cost")
        w.int(decision.cost)
        w.key("remaining")
        w.int(decision.remaining)
        w.key("reset_ms")
        w.int(decision.resetMs)
        w.endObject()
    }
}
