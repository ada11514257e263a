import BulwarkCore

/// Receives the venue's events (market data and private updates), in order, from inside the
/// venue's serialization. Implementations must not block.
public protocol VenueEventSink: AnyObject, Sendable {
    func venueEvents(_ events: [EngineEvent])
}

/// A deposit to credit once (its id makes crediting idempotent).
public struct VenueDeposit: Sendable {
    public let id: Int64
    public let accountID: String
    public let asset: String
    public let amount: FixedDecimal

    public init(id: Int64, accountID: String, asset: String, amount: FixedDecimal) {
        self.id = id
        self.accountID = accountID
        self.asset = asset
        self.amount = amount
    }
}

/// The built-in venue: one matching engine behind an actor, so every operation is applied and its
/// events published in one serial order. The gateway talks to it through async calls; an external
/// venue (over gRPC, in the scale-out milestone) will offer the same operations.
public actor BuiltinVenue {
    private var engine: MatchingEngine
    private weak var events: (any VenueEventSink)?
    private var creditedDeposits = Set<Int64>()

    public init(instruments: [Instrument], events: any VenueEventSink) {
        engine = MatchingEngine(instruments: instruments)
        self.events = events
    }

    public func instruments() -> [Instrument] { engine.listInstruments }

    public func hasInstrument(_ symbol: String) -> Bool { engine.instrument(symbol) != nil }

    public func place(_ request: OrderRequest, nowMs: Int64) -> Result<PlaceOutcome, OrderRejection> {
        let result = engine.place(request, nowMs: nowMs)
        if case .success(let outcome) = result { publish(outcome.events) }
        return result
    }

    public func cancel(accountID: String, orderID: String, nowMs: Int64) -> Result<Order, OrderRejection> {
        published(engine.cancel(accountID: accountID, orderID: orderID, nowMs: nowMs))
    }

    public func cancel(accountID: String, clientOrderID: String, nowMs: Int64) -> Result<Order, OrderRejection> {
        published(engine.cancel(accountID: accountID, clientOrderID: clientOrderID, nowMs: nowMs))
    }

    /// See `MatchingEngine.amend`: a price change or a size increase loses time priority.
    public func amend(
        accountID: String, orderID: String, newPrice: FixedDecimal?, newQty: FixedDecimal?, nowMs: Int64,
        maxNotional: FixedDecimal? = nil
    ) -> Result<Order, OrderRejection> {
        published(engine.amend(accountID: accountID, orderID: orderID, newPrice: newPrice, newQty: newQty, nowMs: nowMs, maxNotional: maxNotional))
    }

    public func cancelAll(accountID: String, instrument: String?, reason: CancelReason = .cancelAll, nowMs: Int64) -> [Order] {
        let (orders, events) = engine.cancelAll(accountID: accountID, instrument: instrument, reason: reason, nowMs: nowMs)
        publish(events)
        return orders
    }

    /// Halts or resumes an instrument; false for an unknown symbol.
    @discardableResult
    public func setStatus(_ status: Instrument.Status, of symbol: String) -> Bool { engine.setStatus(status, of: symbol) }

    public func order(accountID: String, orderID: String) -> Order? { engine.order(accountID: accountID, orderID: orderID) }

    public func order(accountID: String, clientOrderID: String) -> Order? {
        engine.order(accountID: accountID, clientOrderID: clientOrderID)
    }

    public func openOrders(accountID: String) -> [Order] { engine.openOrders(accountID: accountID) }

    public func balances(accountID: String) -> [Balance] { engine.balances(accountID: accountID) }

    public func positions(accountID: String) -> [Position] { engine.positions(accountID: accountID) }

    /// Runs `body` with the current book inside the venue's serial order, so a subscriber
    /// registered in `body` receives every delta after the snapshot and none before it.
    public func withBookSnapshot(instrument: String, depth: Int?, _ body: (BookSnapshot) -> Void) -> Bool {
        guard let snapshot = engine.snapshot(instrument: instrument, depth: depth) else { return false }
        body(snapshot)
        return true
    }

    public func bestBidAsk(instrument: String) -> (bid: FixedDecimal?, ask: FixedDecimal?) {
        engine.bestBidAsk(instrument: instrument)
    }

    /// Credits deposits not credited before; returns how many were new.
    @discardableResult
    public func applyDeposits(_ deposits: [VenueDeposit]) -> Int {
        var credited = 0
        for deposit in deposits where creditedDeposits.insert(deposit.id).inserted {
            publish(engine.deposit(accountID: deposit.accountID, asset: deposit.asset, amount: deposit.amount))
            credited += 1
        }
        return credited
    }

    /// Rests the demo market's ladder of house orders (the order book is in memory, so this runs
    /// at every start of a demo gateway).
    public func seedHouseLiquidity(accountID: String, nowMs: Int64) {
        for request in DemoMarket.houseLadder(accountID: accountID, instruments: engine.listInstruments) {
            if case .success(let outcome) = engine.place(request, nowMs: nowMs) { publish(outcome.events) }
        }
    }

    private func published(_ result: Result<OrderOutcome, OrderRejection>) -> Result<Order, OrderRejection> {
        result.map { outcome in
            publish(outcome.events)
            return outcome.order
        }
    }

    private func publish(_ list: [EngineEvent]) {
        guard !list.isEmpty else { return }
        events?.venueEvents(list)
    }
}
