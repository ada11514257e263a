import BulwarkCore

/// One execution between a resting (maker) and an incoming (taker) order, at the maker's price.
public struct Trade: Sendable, Equatable {
    /// "t_1", "t_2", … in execution order (engine-wide).
    public let tradeID: String
    public let instrument: String
    public let price: FixedDecimal
    public let qty: FixedDecimal
    public let takerSide: OrderSide
    public let makerOrderID: String
    public let takerOrderID: String
    public let makerAccountID: String
    public let takerAccountID: String
    /// Fees in the instrument's quote (settlement) asset, paid to `MatchingEngine.feeAccountID`.
    public let makerFee: FixedDecimal
    public let takerFee: FixedDecimal
    public let timestampMs: Int64

    public init(
        tradeID: String, instrument: String, price: FixedDecimal, qty: FixedDecimal, takerSide: OrderSide, makerOrderID: String,
        takerOrderID: String, makerAccountID: String, takerAccountID: String, makerFee: FixedDecimal, takerFee: FixedDecimal,
        timestampMs: Int64
    ) {
        self.tradeID = tradeID
        self.instrument = instrument
        self.price = price
        self.qty = qty
        self.takerSide = takerSide
        self.makerOrderID = makerOrderID
        self.takerOrderID = takerOrderID
        self.makerAccountID = makerAccountID
        self.takerAccountID = takerAccountID
        self.makerFee = makerFee
        self.takerFee = takerFee
        self.timestampMs = timestampMs
    }
}

/// The new absolute state of one price level.
public struct BookLevelChange: Sendable, Equatable {
    public let side: OrderSide
    public let price: FixedDecimal
    /// The level's new total; zero means the level is gone.
    public let qty: FixedDecimal

    public init(side: OrderSide, price: FixedDecimal, qty: FixedDecimal) {
        self.side = side
        self.price = price
        self.qty = qty
    }
}

/// Aggregated price levels, best first, as of `seq`: applying every later `bookDelta` of the same
/// instrument (seq + 1, seq + 2, …) reproduces the book exactly.
public struct BookSnapshot: Sendable, Equatable {
    public let instrument: String
    public let seq: UInt64
    public let bids: [(price: FixedDecimal, qty: FixedDecimal)]
    public let asks: [(price: FixedDecimal, qty: FixedDecimal)]

    public init(instrument: String, seq: UInt64, bids: [(price: FixedDecimal, qty: FixedDecimal)], asks: [(price: FixedDecimal, qty: FixedDecimal)]) {
        self.instrument = instrument
        self.seq = seq
        self.bids = bids
        self.asks = asks
    }

    public static func == (lhs: BookSnapshot, rhs: BookSnapshot) -> Bool {
        lhs.instrument == rhs.instrument && lhs.seq == rhs.seq
            && lhs.bids.elementsEqual(rhs.bids, by: { $0 == $1 }) && lhs.asks.elementsEqual(rhs.asks, by: { $0 == $1 })
    }
}

/// An account's holding of one asset; `total - available` is held by open orders.
public struct Balance: Sendable, Equatable {
    public let asset: String
    public let total: FixedDecimal
    public let available: FixedDecimal

    public init(asset: String, total: FixedDecimal, available: FixedDecimal) {
        self.asset = asset
        self.total = total
        self.available = available
    }
}

/// A signed derivatives position (long > 0, short < 0), in the instrument's quantity unit.
public struct Position: Sendable, Equatable {
    public let instrument: String
    public let qty: FixedDecimal

    public init(instrument: String, qty: FixedDecimal) {
        self.instrument = instrument
        self.qty = qty
    }
}

/// What the engine tells the world after an operation, in this order: trades (execution order),
/// then one `orderUpdate` per order the operation touched (resting orders first, in the order they
/// were touched, then the incoming order), carrying its state at the end of the operation, then at
/// most one `bookDelta` per instrument whose book changed, then the balances and positions that
/// changed (each once, with its final value).
public enum EngineEvent: Sendable, Equatable {
    case orderUpdate(Order)
    case trade(Trade)
    /// `seq` is the instrument's book sequence after the change: exactly one more than the
    /// previous delta's (or snapshot's) seq.
    case bookDelta(instrument: String, seq: UInt64, changes: [BookLevelChange])
    case balanceUpdate(accountID: String, Balance)
    case positionUpdate(accountID: String, Position)
}

/// A request refused before it reached the book; nothing was stored and nothing changed.
public struct OrderRejection: Error, Sendable, Equatable {
    public let code: ErrorCode
    /// The offending request member, e.g. "params.price".
    public let field: String?
    /// A machine-readable detail, e.g. "insufficient_balance".
    public let reason: String?

    public init(_ code: ErrorCode, field: String? = nil, reason: String? = nil) {
        self.code = code
        self.field = field
        self.reason = reason
    }
}

public struct PlaceOutcome: Sendable {
    /// The order's state after matching (the original order when `duplicate`).
    public let order: Order
    /// A repeated `clientOrderID`: nothing happened, `events` and `trades` are empty.
    public let duplicate: Bool
    public let trades: [Trade]
    public let events: [EngineEvent]

    public init(order: Order, duplicate: Bool, trades: [Trade], events: [EngineEvent]) {
        self.order = order
        self.duplicate = duplicate
        self.trades = trades
        self.events = events
    }
}

/// The result of a cancel or an amend: the order's new state and the events to publish.
public struct OrderOutcome: Sendable {
    public let order: Order
    public let events: [EngineEvent]
}
