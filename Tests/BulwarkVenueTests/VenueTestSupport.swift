@testable import BulwarkCore
@testable import BulwarkVenue
import Testing

/// Decimal literal for tests.
func d(_ text: String) -> FixedDecimal { FixedDecimal(parsingSigned: text)! }

/// Small, round instruments so expected numbers can be checked by hand.
enum Fixtures {
    /// Spot, reference 100, collar ±10 % (90…110), tick 1, lot 0.01, fees 0.1 % maker / 0.2 % taker.
    static let spot = Instrument(
        symbol: "BTC-USD", kind: .spot, baseAsset: "BTC", quoteAsset: "USD", tickSize: d("1"), lotSize: d("0.01"),
        minQty: d("0.05"), maxQty: d("1000"), maxOrderNotional: d("50000"), priceCollar: d("0.1"),
        initialReferencePrice: d("100"), makerFeeRate: d("0.001"), takerFeeRate: d("0.002"))
    /// A second spot market (cancel-all across instruments).
    static let spot2 = Instrument(
        symbol: "ETH-USD", kind: .spot, baseAsset: "ETH", quoteAsset: "USD", tickSize: d("0.5"), lotSize: d("0.1"),
        minQty: d("0.1"), maxQty: d("1000"), maxOrderNotional: d("50000"), priceCollar: d("0.2"),
        initialReferencePrice: d("50"), makerFeeRate: d("0"), takerFeeRate: d("0.001"))
    /// Perpetual, reference 1000, collar ±5 %, fees 0.01 % / 0.04 %, settled in USD.
    static let perp = Instrument(
        symbol: "BTC-PERP", kind: .perpetual, baseAsset: "BTC", quoteAsset: "USD", tickSize: d("0.5"), lotSize: d("0.001"),
        minQty: d("0.001"), maxQty: d("100"), maxOrderNotional: d("100000"), priceCollar: d("0.05"),
        initialReferencePrice: d("1000"), makerFeeRate: d("0.0001"), takerFeeRate: d("0.0004"))
    /// Call option, premium reference 200, collar ±50 %, fees 0.03 % both.
    static let option = Instrument(
        symbol: "BTC-20261225-100000-C",
        kind: .option(underlying: "BTC", strike: d("100000"), expiryMs: 1_798_185_600_000, right: .call), baseAsset: "BTC",
        quoteAsset: "USD", tickSize: d("5"), lotSize: d("0.01"), minQty: d("0.01"), maxQty: d("50"),
        maxOrderNotional: d("100000"), priceCollar: d("0.5"), initialReferencePrice: d("200"),
        makerFeeRate: d("0.0003"), takerFeeRate: d("0.0003"))
    /// No collar: market orders are refused.
    static let uncollared = Instrument(
        symbol: "NOC-USD", kind: .spot, baseAsset: "NOC", quoteAsset: "USD", tickSize: d("1"), lotSize: d("1"),
        minQty: d("1"), maxQty: d("100"), maxOrderNotional: d("100000"), priceCollar: nil,
        initialReferencePrice: d("10"), makerFeeRate: d("0"), takerFeeRate: d("0"))

    static let all = [spot, spot2, perp, option, uncollared]
}

/// An engine plus conveniences: generated client order ids, funding, event capture.
struct Harness {
    var engine = MatchingEngine(instruments: Fixtures.all)
    var nowMs: Int64 = 1_000
    private var nextClientID = 1

    /// Funds each account generously in every asset the fixtures use.
    init(funded accounts: [String] = ["a_alice", "a_bob", "a_carol"]) {
        for account in accounts {
            for (asset, amount) in [("USD", "1000000"), ("BTC", "1000"), ("ETH", "1000"), ("NOC", "1000")] {
                _ = engine.deposit(accountID: account, asset: asset, amount: d(amount))
            }
        }
    }

    mutating func clientID() -> String {
        defer { nextClientID += 1 }
        return "c\(nextClientID)"
    }

    mutating func place(
        _ account: String, _ side: OrderSide, _ qty: String, at price: String?, type: OrderType? = nil, tif: TimeInForce? = nil,
        instrument: String = "BTC-USD", clientOrderID: String? = nil, deadlineMs: Int64? = nil, maxNotional: String? = nil
    ) -> Result<PlaceOutcome, OrderRejection> {
        let type = type ?? (price == nil ? .market : .limit)
        let request = OrderRequest(
            accountID: account, instrument: instrument, side: side, type: type, qty: d(qty), price: price.map(d),
            timeInForce: tif ?? (type == .market ? .ioc : .gtc), clientOrderID: clientOrderID ?? clientID(), deadlineMs: deadlineMs,
            maxNotional: maxNotional.map(d))
        nowMs += 1
        return engine.place(request, nowMs: nowMs)
    }

    /// Places and expects acceptance.
    @discardableResult
    mutating func accept(
        _ account: String, _ side: OrderSide, _ qty: String, at price: String?, tif: TimeInForce? = nil,
        instrument: String = "BTC-USD", sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> PlaceOutcome {
        let result = place(account, side, qty, at: price, tif: tif, instrument: instrument)
        guard case .success(let outcome) = result else {
            Issue.record("rejected: \(result)", sourceLocation: sourceLocation)
            throw Refused()
        }
        return outcome
    }

    /// The refusal's code (nil when accepted).
    mutating func rejection(
        _ account: String, _ side: OrderSide, _ qty: String, at price: String?, type: OrderType? = nil, tif: TimeInForce? = nil,
        instrument: String = "BTC-USD", deadlineMs: Int64? = nil, maxNotional: String? = nil
    ) -> OrderRejection? {
        let result = place(account, side, qty, at: price, type: type, tif: tif, instrument: instrument, deadlineMs: deadlineMs, maxNotional: maxNotional)
        if case .failure(let rejection) = result { return rejection }
        return nil
    }

    func balance(_ account: String, _ asset: String) -> Balance {
        engine.balances(accountID: account).first { $0.asset == asset } ?? Balance(asset: asset, total: .zero, available: .zero)
    }

    func position(_ account: String, _ instrument: String) -> FixedDecimal {
        engine.positions(accountID: account).first { $0.instrument == instrument }?.qty ?? .zero
    }

    func levels(_ instrument: String = "BTC-USD") -> (bids: [String], asks: [String]) {
        let snapshot = engine.snapshot(instrument: instrument)!
        return (snapshot.bids.map { "\($0.qty)@\($0.price)" }, snapshot.asks.map { "\($0.qty)@\($0.price)" })
    }

    func expectConsistent(sourceLocation: SourceLocation = #_sourceLocation) {
        let problems = engine.auditInvariants()
        #expect(problems.isEmpty, "\(problems)", sourceLocation: sourceLocation)
    }
}

struct Refused: Error {}

extension EngineEvent {
    var trade: Trade? { if case .trade(let t) = self { t } else { nil } }
    var order: Order? { if case .orderUpdate(let o) = self { o } else { nil } }
    var isBookDelta: Bool { if case .bookDelta = self { true } else { false } }
    var isBalance: Bool { if case .balanceUpdate = self { true } else { false } }

    /// A short tag for checking event order.
    var kind: String {
        switch self {
        case .orderUpdate: "order"
        case .trade: "trade"
        case .bookDelta: "book"
        case .balanceUpdate: "balance"
        case .positionUpdate: "position"
        }
    }
}

/// A market-data client's copy of one book, built only from deltas.
struct BookReplica {
    let instrument: String
    var seq: UInt64 = 0
    var bids: [FixedDecimal: FixedDecimal] = [:]
    var asks: [FixedDecimal: FixedDecimal] = [:]

    init(instrument: String) { self.instrument = instrument }

    /// Applies this instrument's deltas; returns a problem description for a sequence gap.
    mutating func apply(_ events: [EngineEvent]) -> String? {
        for case .bookDelta(let symbol, let seq, let changes) in events where symbol == instrument {
            guard seq == self.seq + 1 else { return "\(instrument): delta seq \(seq) after \(self.seq)" }
            self.seq = seq
            for change in changes {
                if change.side == .buy {
                    bids[change.price] = change.qty.isZero ? nil : change.qty
                } else {
                    asks[change.price] = change.qty.isZero ? nil : change.qty
                }
            }
        }
        return nil
    }

    var snapshot: BookSnapshot {
        BookSnapshot(
            instrument: instrument, seq: seq,
            bids: bids.sorted { $0.key > $1.key }.map { (price: $0.key, qty: $0.value) },
            asks: asks.sorted { $0.key < $1.key }.map { (price: $0.key, qty: $0.value) })
    }
}
