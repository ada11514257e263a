import BulwarkCore

public enum OptionRight: String, Sendable {
    case call
    case put
}

public enum InstrumentKind: Sendable, Equatable {
    case spot
    case perpetual
    case option(underlying: String, strike: FixedDecimal, expiryMs: Int64, right: OptionRight)

    public var name: String {
        switch self {
        case .spot: "spot"
        case .perpetual: "perpetual"
        case .option: "option"
        }
    }
}

/// A tradable instrument and its static trading rules.
public struct Instrument: Sendable, Equatable {
    public enum Status: String, Sendable {
        case trading
        case halted
    }

    public let symbol: String
    public let kind: InstrumentKind
    /// What a quantity counts (BTC for BTC-USD, BTC-PERP and BTC options).
    public let baseAsset: String
    /// The settlement asset: what prices, fees and premiums are paid in (the quote for spot,
    /// "USD" for perpetuals and options).
    public let quoteAsset: String
    public let tickSize: FixedDecimal
    public let lotSize: FixedDecimal
    public let minQty: FixedDecimal
    public let maxQty: FixedDecimal
    public let maxOrderNotional: FixedDecimal
    /// Fat-finger band, a FRACTION of the reference price (0.1 = ±10 %): limit prices must lie
    /// within it, and market orders trade only inside it. Nil: no band (and no market orders).
    public let priceCollar: FixedDecimal?
    /// The reference price before the first trade; afterwards the last trade price.
    public let initialReferencePrice: FixedDecimal
    public let makerFeeRate: FixedDecimal
    public let takerFeeRate: FixedDecimal
    /// Largest absolute position one account may build (derivatives only; nil: no limit). Checked
    /// against the worst case: the position plus every open order on the same side filling.
    public var maxPosition: FixedDecimal?
    public var status: Status

    public init(
        symbol: String, kind: InstrumentKind, baseAsset: String, quoteAsset: String, tickSize: FixedDecimal,
        lotSize: FixedDecimal, minQty: FixedDecimal, maxQty: FixedDecimal, maxOrderNotional: FixedDecimal,
        priceCollar: FixedDecimal?, initialReferencePrice: FixedDecimal, makerFeeRate: FixedDecimal,
        takerFeeRate: FixedDecimal, maxPosition: FixedDecimal? = nil, status: Status = .trading
    ) {
        self.symbol = symbol
        self.kind = kind
        self.baseAsset = baseAsset
        self.quoteAsset = quoteAsset
        self.tickSize = tickSize
        self.lotSize = lotSize
        self.minQty = minQty
        self.maxQty = maxQty
        self.maxOrderNotional = maxOrderNotional
        self.priceCollar = priceCollar
        self.initialReferencePrice = initialReferencePrice
        self.makerFeeRate = makerFeeRate
        self.takerFeeRate = takerFeeRate
        self.maxPosition = maxPosition
        self.status = status
    }

    /// Spot trades move the base asset; derivatives only change positions.
    public var deliversBaseAsset: Bool { kind == .spot }

    /// Holds are sized with the higher rate: an order may end up maker or taker.
    var higherFeeRate: FixedDecimal { max(makerFeeRate, takerFeeRate) }
}
