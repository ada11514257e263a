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
    /// What prices, fees and premiums are paid in.
    public let quoteAsset: String
    public let tickSize: FixedDecimal
    public let lotSize: FixedDecimal
    public let minQty: FixedDecimal
    public let maxQty: FixedDecimal
    public let maxOrderNotional: FixedDecimal
    /// Fat-finger band: limit prices must lie within this fraction of the reference price.
    public let priceCollar: FixedDecimal?
    /// The reference price before the first trade; afterwards the last trade price.
    public let initialReferencePrice: FixedDecimal
    public let makerFeeRate: FixedDecimal
    public let takerFeeRate: FixedDecimal
    public var status: Status

    public init(
        symbol: String, kind: InstrumentKind, baseAsset: String, quoteAsset: String, tickSize: FixedDecimal,
        lotSize: FixedDecimal, minQty: FixedDecimal, maxQty: FixedDecimal, maxOrderNotional: FixedDecimal,
        priceCollar: FixedDecimal?, initialReferencePrice: FixedDecimal, makerFeeRate: FixedDecimal,
        takerFeeRate: FixedDecimal, status: Status = .trading
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
        self.status = status
    }

    /// Spot trades move the base asset; derivatives only change positions.
    public var deliversBaseAsset: Bool { kind == .spot }

    /// Option buyers pay the premium in full; spot buyers pay the notional.
    var buyerPaysNotional: Bool {
        switch kind {
        case .spot, .option: true
        case .perpetual: false
        }
    }

    var higherFeeRate: FixedDecimal { max(makerFeeRate, takerFeeRate) }
}
