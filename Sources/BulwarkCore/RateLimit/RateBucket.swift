/// The rate-limit buckets, by the name clients see in `usage.bucket`, `error.data.bucket` and
/// `rate_limit.warning` (docs/rate-limits.md has the table with defaults).
public enum RateBucket: String, Sendable, CaseIterable {
    // Per client address, before the upgrade (HTTP 429) or at login.
    case ipHandshakes = "ip_handshakes"
    case ipConnections = "ip_connections"
    case ipConcurrent = "ip_concurrent"
    case login
    // The whole node (HTTP 503).
    case globalConnections = "global_connections"
    case globalConcurrent = "global_concurrent"
    // Per WebSocket connection.
    case messages
    case subscriptions
    // Per account, by tier.
    case weight
    case orders
    case ordersDay = "orders_day"
    case cancels

    public enum Scope: String, Sendable {
        case ip
        case node
        case connection
        case account
    }

    public var scope: Scope {
        switch self {
        case .ipHandshakes, .ipConnections, .ipConcurrent, .login: .ip
        case .globalConnections, .globalConcurrent: .node
        case .messages, .subscriptions: .connection
        case .weight, .orders, .ordersDay, .cancels: .account
        }
    }
}

/// Which buckets a request is charged to, and which one its `usage` reports.
public struct ChargePlan: Sendable, Equatable {
    public let charges: [(bucket: RateBucket, cost: Int64)]
    /// The bucket named in `usage`: the one that describes this kind of request.
    public let reported: RateBucket

    public static func == (lhs: ChargePlan, rhs: ChargePlan) -> Bool {
        lhs.reported == rhs.reported && lhs.charges.map(\.bucket) == rhs.charges.map(\.bucket) && lhs.charges.map(\.cost) == rhs.charges.map(\.cost)
    }
}

/// The published cost table (docs/rate-limits.md). Every request costs one `messages` unit on its
/// connection; once logged in, private methods also cost their weight on the account.
///
/// Cancels are the exception, on purpose: a logged-in cancel is charged to `cancels` only, not to
/// `messages` nor `weight`, so no amount of order traffic (accepted or refused) can leave a client
/// unable to pull its orders. `cancels` has its own limit, so this is no way around the others.
public enum MethodCosts {
    /// Weight on the account's `weight` bucket, by private method. Unknown methods cost 1.
    public static let weights: [(method: String, weight: Int64)] = [
        ("private/session.status", 1), ("private/session.list", 2), ("private/session.revoke", 1), ("private/logout", 1),
        ("private/mfa.verify", 1), ("private/order.place", 1), ("private/order.amend", 1), ("private/order.status", 1),
        ("private/orders.open", 5), ("private/account.balances", 2), ("private/account.positions", 2),
    ]

    public static let cancelMethods: Set<String> = ["private/order.cancel", "private/order.cancel_all", "private/cancel_all_after"]
    static let orderEntryMethods: Set<String> = ["private/order.place", "private/order.amend"]

    public static func weight(of method: String) -> Int64 { weights.first { $0.method == method }?.weight ?? 1 }

    public static func plan(for method: String, loggedIn: Bool) -> ChargePlan {
        switch method {
        case "public/auth":
            return ChargePlan(charges: [(.messages, 1), (.login, 1)], reported: .login)
        case "subscribe", "unsubscribe":
            return ChargePlan(charges: [(.messages, 1), (.subscriptions, 1)], reported: .subscriptions)
        case _ where loggedIn && cancelMethods.contains(method):
            return ChargePlan(charges: [(.cancels, 1)], reported: .cancels)
        case _ where loggedIn && orderEntryMethods.contains(method):
            return ChargePlan(charges: [(.messages, 1), (.weight, weight(of: method)), (.orders, 1), (.ordersDay, 1)], reported: .orders)
        case _ where loggedIn && method.hasPrefix("private/"):
            return ChargePlan(charges: [(.messages, 1), (.weight, weight(of: method))], reported: .weight)
        default:
            return ChargePlan(charges: [(.messages, 1)], reported: .messages)
        }
    }
}

/// An account's rate-limit tier: the account buckets' limits depend on it (`bulwark accounts set-tier`).
public enum AccountTier: String, Sendable, CaseIterable {
    case standard
    case professional
    case marketMaker = "market_maker"
}
