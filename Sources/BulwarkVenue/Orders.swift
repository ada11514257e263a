import BulwarkCore

public enum OrderSide: String, Sendable {
    case buy
    case sell

    public var opposite: OrderSide { self == .buy ? .sell : .buy }
}

public enum OrderType: String, Sendable {
    case limit
    case market
}

public enum TimeInForce: String, Sendable {
    /// Good till cancelled: the unfilled rest of a limit order rests on the book.
    case gtc
    /// Immediate or cancel: the unfilled rest is cancelled (`ioc_remainder`).
    case ioc
    /// Fill or kill: all at once or nothing (`fok_not_fillable`, no trade and no book change).
    case fok
    /// Maker only: cancelled (`post_only_would_cross`) instead of taking liquidity.
    case postOnly = "post_only"
}

/// The life of an order. A request refused by a pre-trade control never becomes an order (the
/// caller gets an `OrderRejection` and nothing is stored), so there is no `rejected` status; an
/// order stopped by its time in force (ioc remainder, fok not fillable, post-only would cross,
/// market remainder) ends `cancelled` with a `CancelReason` instead of a separate `expired`.
public enum OrderStatus: String, Sendable {
    /// Resting with nothing filled.
    case open
    /// Resting (or, transiently, being matched) with part filled.
    case partiallyFilled = "partially_filled"
    case filled
    case cancelled
    /// The gateway could not learn the outcome (external venue timeout); resolved on `orders`.
    /// The built-in engine never produces it.
    case unknown

    public var isFinal: Bool { self == .filled || self == .cancelled }
}

/// Why an order stopped before filling completely.
public enum CancelReason: String, Sendable {
    case user
    case immediateOrCancelRemainder = "ioc_remainder"
    case fillOrKillNotFillable = "fok_not_fillable"
    case postOnlyWouldCross = "post_only_would_cross"
    case selfTradePrevention = "self_trade_prevention"
    /// A market order found nothing (left) to trade on the opposite side.
    case noLiquidity = "no_liquidity"
    /// A market order's remainder would have traded outside the price collar.
    case marketCollar = "market_collar"
    case cancelAll = "cancel_all"
    case killSwitch = "kill_switch"
}

public struct OrderRequest: Sendable, Equatable {
    public var accountID: String
    public var keyID: String?
    public var instrument: String
    public var side: OrderSide
    public var type: OrderType
    public var qty: FixedDecimal
    /// Required for limit orders, refused for market orders.
    public var price: FixedDecimal?
    public var timeInForce: TimeInForce
    /// Unique per account: a repeat returns the original order (`PlaceOutcome.duplicate`).
    public var clientOrderID: String
    /// The request is refused (`deadline_exceeded`) when `deadlineMs < nowMs`.
    public var deadlineMs: Int64?
    /// Per-key notional cap, checked with the instrument's own.
    public var maxNotional: FixedDecimal?

    public init(
        accountID: String, keyID: String? = nil, instrument: String, side: OrderSide, type: OrderType,
        qty: FixedDecimal, price: FixedDecimal?, timeInForce: TimeInForce, clientOrderID: String,
        deadlineMs: Int64? = nil, maxNotional: FixedDecimal? = nil
    ) {
        self.accountID = accountID
        self.keyID = keyID
        self.instrument = instrument
        self.side = side
        self.type = type
        self.qty = qty
        self.price = price
        self.timeInForce = timeInForce
        self.clientOrderID = clientOrderID
        self.deadlineMs = deadlineMs
        self.maxNotional = maxNotional
    }
}

public struct Order: Sendable, Equatable {
    /// "o_1", "o_2", … in arrival order.
    public let orderID: String
    public let clientOrderID: String
    public let accountID: String
    /// The API key (or token) the order was placed with: a key's kill switch cancels its orders.
    public var keyID: String? = nil
    public let instrument: String
    public let side: OrderSide
    public let type: OrderType
    public let timeInForce: TimeInForce
    /// The limit price (nil for market orders); changed only by an amend.
    public internal(set) var price: FixedDecimal?
    /// The total quantity; changed only by an amend.
    public internal(set) var qty: FixedDecimal
    public internal(set) var filledQty: FixedDecimal = .zero
    /// Sum of price × qty over fills, for the average price.
    public internal(set) var filledNotional: FixedDecimal = .zero
    public internal(set) var status: OrderStatus = .open
    public internal(set) var cancelReason: CancelReason?
    public let createdMs: Int64
    public internal(set) var updatedMs: Int64
    /// Arrival number (the digits of `orderID`), for ordering lists.
    let number: UInt64

    /// What is left to fill (still reported after a cancel; the wire shows 0 for final orders).
    public var remainingQty: FixedDecimal { qty - filledQty }

    /// Volume-weighted average fill price, truncated to 18 decimals; nil before the first fill.
    public var averagePrice: FixedDecimal? {
        guard filledQty.isPositive else { return nil }
        return filledNotional.divided(by: filledQty)
    }

    /// Whether the order sits on the book (not final; market and ioc/fok orders never rest).
    public var isResting: Bool { !status.isFinal && type == .limit }
}

extension Order {
    /// An order as another process reported it (the venue's gRPC link); the engine makes its own.
    public init(
        orderID: String, clientOrderID: String, accountID: String, keyID: String?, instrument: String, side: OrderSide, type: OrderType,
        timeInForce: TimeInForce, price: FixedDecimal?, qty: FixedDecimal, filledQty: FixedDecimal, filledNotional: FixedDecimal,
        status: OrderStatus, cancelReason: CancelReason?, createdMs: Int64, updatedMs: Int64
    ) {
        self.orderID = orderID
        self.clientOrderID = clientOrderID
        self.accountID = accountID
        self.keyID = keyID
        self.instrument = instrument
        self.side = side
        self.type = type
        self.timeInForce = timeInForce
        self.price = price
        self.qty = qty
        self.filledQty = filledQty
        self.filledNotional = filledNotional
        self.status = status
        self.cancelReason = cancelReason
        self.createdMs = createdMs
        self.updatedMs = updatedMs
        number = UInt64(orderID.drop { !$0.isNumber }) ?? 0
    }
}
