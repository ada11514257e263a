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
    case gtc
    case ioc
    case fok
    case postOnly = "post_only"
}

public enum OrderStatus: String, Sendable {
    case open
    case partiallyFilled = "partially_filled"
    case filled
    case cancelled
    /// The gateway could not learn the outcome (external venue timeout); resolved on `orders`.
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
    case noLiquidity = "no_liquidity"
    case marketCollar = "market_collar"
    case cancelAll = "cancel_all"
}

public struct OrderRequest: Sendable {
    public var accountID: String
    public var keyID: String?
    public var instrument: String
    public var side: OrderSide
    public var type: OrderType
    public var qty: FixedDecimal
    public var price: FixedDecimal?
    public var timeInForce: TimeInForce
    public var clientOrderID: String
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
    public let orderID: String
    public let clientOrderID: String
    public let accountID: String
    public let instrument: String
    public let side: OrderSide
    public let type: OrderType
    public let timeInForce: TimeInForce
    public let price: FixedDecimal?
    public let qty: FixedDecimal
    public internal(set) var filledQty: FixedDecimal = .zero
    /// Sum of price × qty over fills, for the average price.
    public internal(set) var filledNotional: FixedDecimal = .zero
    public internal(set) var status: OrderStatus = .open
    public internal(set) var cancelReason: CancelReason?
    public let createdMs: Int64
    public internal(set) var updatedMs: Int64

    public var remainingQty: FixedDecimal { qty - filledQty }

    /// Volume-weighted average fill price, rounded down to 18 decimals.
    public var averagePrice: FixedDecimal? {
        guard filledQty.isPositive else { return nil }
        return filledNotional.divided(by: filledQty)
    }
}

public struct Trade: Sendable, Equatable {
    public let tradeID: String
    public let instrument: String
    public let price: FixedDecimal
    public let qty: FixedDecimal
    public let takerSide: OrderSide
    public let makerOrderID: String
    public let takerOrderID: String
    public let makerAccountID: String
    public let takerAccountID: String
    public let makerFee: FixedDecimal
    public let takerFee: FixedDecimal
    public let timestampMs: Int64
}

public struct BookLevelChange: Sendable, Equatable {
    public let side: OrderSide
    public let price: FixedDecimal
    /// The level's new total; zero means the level is gone.
    public let qty: FixedDecimal
}

public struct BookSnapshot: Sendable, Equatable {
    public let instrument: String
    public let seq: UInt64
    public let bids: [(price: FixedDecimal, qty: FixedDecimal)]
    public let asks: [(price: FixedDecimal, qty: FixedDecimal)]

    public static func == (lhs: BookSnapshot, rhs: BookSnapshot) -> Bool {
        lhs.instrument == rhs.instrument && lhs.seq == rhs.seq
            && lhs.bids.elementsEqual(rhs.bids, by: { $0 == $1 }) && lhs.asks.elementsEqual(rhs.asks, by: { $0 == $1 })
    }
}

public struct Balance: Sendable, Equatable {
    public let asset: String
    public let total: FixedDecimal
    public let available: FixedDecimal
}

public struct Position: Sendable, Equatable {
    public let instrument: String
    public let qty: FixedDecimal
}

/// What the engine tells the world after an operation, in order.
public enum EngineEvent: Sendable, Equatable {
    case orderUpdate(Order)
    case trade(Trade)
    case bookDelta(instrument: String, seq: UInt64, changes: [BookLevelChange])
    case balanceUpdate(accountID: String, Balance)
    case positionUpdate(accountID: String, Position)
}

/// An order refused before it reached the book; nothing was stored.
public struct OrderRejection: Error, Sendable, Equatable {
    public let code: ErrorCode
    public let field: String?
    public let reason: String?

    public init(_ code: ErrorCode, field: String? = nil, reason: String? = nil) {
        self.code = code
        self.field = field
        self.reason = reason
    }
}

public struct PlaceOutcome: Sendable {
    public let order: Order
    public let duplicate: Bool
    public let trades: [Trade]
    public let events: [EngineEvent]
}
