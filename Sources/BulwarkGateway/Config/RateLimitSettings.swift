import BulwarkCore

/// Every rate limit of the node, with the defaults of docs/rate-limits.md. Read from the
/// `rate.*` and `abuse.*` settings of `SettingCatalogue`.
public struct RateLimitSettings: Sendable, Equatable {
    public var ipHandshakes = RateLimit.perSecond(20)
    public var ipConnections = RateLimit.perSecond(5)
    public var ipMaxConnections = 50
    public var ipLogins = RateLimit.perSecond(10)
    public var globalConnections = RateLimit.perSecond(500)
    public var globalMaxConnections = 10_000
    public var connectionMessages = RateLimit.perSecond(100)
    public var connectionSubscribes = RateLimit.perSecond(10)
    public var tiers: [AccountTier: TierLimits] = TierLimits.defaults
    public var abuse = AbusePolicy()

    public init() {}

    /// The account buckets of one tier.
    public struct TierLimits: Sendable, Equatable {
        public var weight: RateLimit
        public var orders: RateLimit
        public var ordersPerDay: RateLimit
        public var cancels: RateLimit

        public func limit(_ bucket: RateBucket) -> RateLimit? {
            switch bucket {
            case .weight: weight
            case .orders: orders
            case .ordersDay: ordersPerDay
            case .cancels: cancels
            default: nil
            }
        }

        static let defaults: [AccountTier: TierLimits] = [
            .standard: TierLimits(weight: .perSecond(50), orders: .perSecond(10), ordersPerDay: RateLimit(count: 100_000, periodMs: 86_400_000), cancels: .perSecond(20)),
            .professional: TierLimits(weight: .perSecond(200), orders: .perSecond(50), ordersPerDay: RateLimit(count: 1_000_000, periodMs: 86_400_000), cancels: .perSecond(100)),
            .marketMaker: TierLimits(weight: .perSecond(1000), orders: .perSecond(200), ordersPerDay: RateLimit(count: 10_000_000, periodMs: 86_400_000), cancels: .perSecond(500)),
        ]
    }

    /// Graduated enforcement: warn, refuse, close, ban.
    public struct AbusePolicy: Sendable, Equatable {
        /// `rate_limit.warning` once a bucket is this full (percent of its burst).
        public var warningPercent = 80
        /// Refused requests on one connection that close it with 4008 (N within the period).
        public var closeAfter = RateLimit(count: 20, periodMs: 10_000)
        /// 4008 closes (or refused upgrades counted like them) of one address or key that ban it.
        public var banAfter = RateLimit(count: 3, periodMs: 600_000)
        public var bans = BanList.Policy()

        public init() {}
    }

    /// The limit of a per-IP, node or connection bucket (account buckets depend on the tier).
    public func limit(_ bucket: RateBucket) -> RateLimit? {
        switch bucket {
        case .ipHandshakes: ipHandshakes
        case .ipConnections: ipConnections
        case .login: ipLogins
        case .globalConnections: globalConnections
        case .messages: connectionMessages
        case .subscriptions: connectionSubscribes
        default: nil
        }
    }

    func tier(_ tier: AccountTier) -> TierLimits { tiers[tier] ?? TierLimits.defaults[.standard]! }

    /// The catalogue entries for these settings, with the defaults above.
    static var catalogue: [SettingSpec] {
        let defaults = RateLimitSettings()
        var specs = [
            SettingSpec(key: "rate.ip.handshakes", kind: .string, defaultValue: "\(defaults.ipHandshakes)", help: "WebSocket upgrade attempts per client IP, refused ones included (N/PERIOD: a burst of N, refilled at N per PERIOD); beyond: HTTP 429."),
            SettingSpec(key: "rate.ip.connections", kind: .string, defaultValue: "\(defaults.ipConnections)", help: "New WebSocket connections per client IP; beyond: HTTP 429."),
            SettingSpec(key: "rate.ip.max_connections", kind: .int, defaultValue: "\(defaults.ipMaxConnections)", help: "Open WebSocket connections per client IP; beyond: HTTP 429."),
            SettingSpec(key: "rate.ip.logins", kind: .string, defaultValue: "\(defaults.ipLogins)", help: "public/auth attempts per client IP (bucket login, with the failed-login throttle); beyond: rate_limited."),
            SettingSpec(key: "rate.global.connections", kind: .string, defaultValue: "\(defaults.globalConnections)", help: "New WebSocket connections on this node; beyond: HTTP 503."),
            SettingSpec(key: "rate.global.max_connections", kind: .int, defaultValue: "\(defaults.globalMaxConnections)", help: "Open WebSocket connections on this node; beyond: HTTP 503."),
            SettingSpec(key: "rate.connection.messages", kind: .string, defaultValue: "\(defaults.connectionMessages)", help: "Requests per connection (logged-in cancels excepted); beyond: rate_limited, bucket messages."),
            SettingSpec(key: "rate.connection.subscribes", kind: .string, defaultValue: "\(defaults.connectionSubscribes)", help: "subscribe and unsubscribe calls per connection; beyond: rate_limited, bucket subscriptions."),
        ]
        for tier in AccountTier.allCases {
            let limits = defaults.tier(tier)
            let name = tier.rawValue
            specs += [
                SettingSpec(key: "rate.tier.\(name).weight", kind: .string, defaultValue: "\(limits.weight)", help: "Request weight per account of tier \(name) (cost table in docs/rate-limits.md)."),
                SettingSpec(key: "rate.tier.\(name).orders", kind: .string, defaultValue: "\(limits.orders)", help: "Orders placed per account of tier \(name)."),
                SettingSpec(key: "rate.tier.\(name).orders_per_day", kind: .string, defaultValue: "\(limits.ordersPerDay)", help: "Orders placed per account of tier \(name), sliding day (bucket orders_day)."),
                SettingSpec(key: "rate.tier.\(name).cancels", kind: .string, defaultValue: "\(limits.cancels)", help: "Cancels per account of tier \(name), a bucket of their own that orders never drain."),
            ]
        }
        specs += [
            SettingSpec(key: "abuse.warning_percent", kind: .int, defaultValue: "\(defaults.abuse.warningPercent)", help: "A rate_limit.warning notification is sent once a bucket is this full (1-99)."),
            SettingSpec(key: "abuse.close_after", kind: .string, defaultValue: "\(defaults.abuse.closeAfter)", help: "Refused requests (N/PERIOD) after which a connection is closed with 4008; N at least 2, never the first refusal."),
            SettingSpec(key: "abuse.ban_after", kind: .string, defaultValue: "\(defaults.abuse.banAfter)", help: "4008 closes of one IP or key (N/PERIOD) that ban it; refused upgrades of an IP count like closes once they reach abuse.close_after."),
            SettingSpec(key: "abuse.ban_ms", kind: .int, defaultValue: "\(defaults.abuse.bans.baseMs)", help: "First ban's length; each further ban within abuse.ban_reset_ms doubles it."),
            SettingSpec(key: "abuse.ban_max_ms", kind: .int, defaultValue: "\(defaults.abuse.bans.maxMs)", help: "Longest ban."),
            SettingSpec(key: "abuse.ban_reset_ms", kind: .int, defaultValue: "\(defaults.abuse.bans.resetAfterMs)", help: "A ban starting this long after the subject's previous one starts again at abuse.ban_ms."),
        ]
        return specs
    }

    /// Reads and validates the settings.
    static func read(string: (String) -> String, int: (String) -> Int) throws -> RateLimitSettings {
        func rate(_ key: String) throws -> RateLimit {
            guard let limit = RateLimit(parsing: string(key)) else {
                throw ConfigurationError("\(key) must be N/PERIOD with PERIOD ms, s, m, h or d, optionally with a count (10/s, 5/60s, 100000/d); got '\(string(key))'")
            }
            return limit
        }
        func positive(_ key: String) throws -> Int {
            let value = int(key)
            guard value > 0 else { throw ConfigurationError("\(key) must be positive") }
            return value
        }
        var settings = RateLimitSettings()
        settings.ipHandshakes = try rate("rate.ip.handshakes")
        settings.ipConnections = try rate("rate.ip.connections")
        settings.ipMaxConnections = try positive("rate.ip.max_connections")
        settings.ipLogins = try rate("rate.ip.logins")
        settings.globalConnections = try rate("rate.global.connections")
        settings.globalMaxConnections = try positive("rate.global.max_connections")
        settings.connectionMessages = try rate("rate.connection.messages")
        settings.connectionSubscribes = try rate("rate.connection.subscribes")
        for tier in AccountTier.allCases {
            let prefix = "rate.tier.\(tier.rawValue)."
            settings.tiers[tier] = TierLimits(
                weight: try rate(prefix + "weight"), orders: try rate(prefix + "orders"),
                ordersPerDay: try rate(prefix + "orders_per_day"), cancels: try rate(prefix + "cancels"))
        }
        settings.abuse.warningPercent = int("abuse.warning_percent")
        guard (1...99).contains(settings.abuse.warningPercent) else { throw ConfigurationError("abuse.warning_percent must be within 1...99") }
        settings.abuse.closeAfter = try rate("abuse.close_after")
        // Never at the first violation (PROTOCOL.md §8: 4008 only after warnings).
        guard settings.abuse.closeAfter.count >= 2 else { throw ConfigurationError("abuse.close_after must allow at least 2 refusals") }
        settings.abuse.banAfter = try rate("abuse.ban_after")
        settings.abuse.bans.baseMs = Int64(try positive("abuse.ban_ms"))
        settings.abuse.bans.maxMs = Int64(try positive("abuse.ban_max_ms"))
        settings.abuse.bans.resetAfterMs = Int64(try positive("abuse.ban_reset_ms"))
        guard settings.abuse.bans.maxMs >= settings.abuse.bans.baseMs else {
            throw ConfigurationError("abuse.ban_max_ms must be at least abuse.ban_ms")
        }
        return settings
    }
}
