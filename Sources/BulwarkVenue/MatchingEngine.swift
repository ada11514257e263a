import BulwarkCore

/// The built-in venue's matching engine: price-time priority limit order books, pre-trade checks,
/// holds, settlement and positions.
///
/// Pure and deterministic: no I/O, no clock (time comes in as `nowMs`), ids from counters. Not
/// thread-safe: `BuiltinVenue` owns one and serializes every call.
///
/// First-version rules (documented in docs/venue.md): self-trade prevention cancels the resting
/// order; fees are charged in the quote asset to the fee account; spot and option buyers must hold
/// the full notional plus the higher fee; spot sellers hold the base quantity; perpetuals and option
/// sellers hold fees only (no margin model yet).
public struct MatchingEngine: Sendable {
    public static let feeAccountID = "a_fees"

    private var instruments: [String: Instrument]
    private var instrumentOrder: [String]
    private var books: [String: OrderBook] = [:]
    private var referencePrices: [String: FixedDecimal] = [:]
    private var ledger = Ledger()
    private var orders: [String: Order] = [:]
    private var holds: [String: FixedDecimal] = [:]
    private var openOrders: [String: Set<String>] = [:]
    private var clientOrderIndex: [String: [String: String]] = [:]
    private var nextOrderNumber: UInt64 = 1
    private var nextTradeNumber: UInt64 = 1

    public init(instruments: [Instrument]) {
        self.instruments = Dictionary(uniqueKeysWithValues: instruments.map { ($0.symbol, $0) })
        instrumentOrder = instruments.map(\.symbol)
        for instrument in instruments {
            books[instrument.symbol] = OrderBook()
            referencePrices[instrument.symbol] = instrument.initialReferencePrice
        }
    }

    // MARK: Queries

    public var listInstruments: [Instrument] { instrumentOrder.compactMap { instruments[$0] } }

    public func instrument(_ symbol: String) -> Instrument? { instruments[symbol] }

    public func referencePrice(_ symbol: String) -> FixedDecimal? { referencePrices[symbol] }

    public func order(accountID: String, orderID: String) -> Order? {
        guard let order = orders[orderID], order.accountID == accountID else { return nil }
        return order
    }

    public func order(accountID: String, clientOrderID: String) -> Order? {
        clientOrderIndex[accountID]?[clientOrderID].flatMap { orders[$0] }
    }

    public func openOrders(accountID: String) -> [Order] {
        (openOrders[accountID] ?? []).compactMap { orders[$0] }.sorted { $0.createdMs == $1.createdMs ? $0.orderID < $1.orderID : $0.createdMs < $1.createdMs }
    }

    public func balances(accountID: String) -> [Balance] { ledger.balances(accountID) }

    public func positions(accountID: String) -> [Position] { ledger.positions(accountID) }

    public func totalBalance(of asset: String) -> FixedDecimal { ledger.sum(of: asset) }

    public func snapshot(instrument: String, depth: Int? = nil) -> BookSnapshot? {
        guard let book = books[instrument] else { return nil }
        return BookSnapshot(instrument: instrument, seq: book.seq, bids: book.bids.snapshot(depth: depth), asks: book.asks.snapshot(depth: depth))
    }

    public func bestBidAsk(instrument: String) -> (bid: FixedDecimal?, ask: FixedDecimal?) {
        (books[instrument]?.bids.best?.price, books[instrument]?.asks.best?.price)
    }

    // MARK: Funding

    public mutating func deposit(accountID: String, asset: String, amount: FixedDecimal) -> [EngineEvent] {
        ledger.credit(accountID, asset, amount)
        return ledger.drainEvents()
    }

    // MARK: Placing

    public mutating func place(_ request: OrderRequest, nowMs: Int64) -> Result<PlaceOutcome, OrderRejection> {
        if let existing = order(accountID: request.accountID, clientOrderID: request.clientOrderID) {
            return .success(PlaceOutcome(order: existing, duplicate: true, trades: [], events: []))
        }
        guard let instrument = instruments[request.instrument] else {
            return .failure(OrderRejection(.unknownInstrument, field: "params.instrument"))
        }
        let bound: FixedDecimal
        switch validate(request, instrument: instrument, nowMs: nowMs) {
        case .failure(let rejection): return .failure(rejection)
        case .success(let value): bound = value
        }
        let hold = requiredHold(instrument: instrument, side: request.side, qty: request.qty, limit: bound)
        if let (asset, amount) = hold, amount > ledger.entry(request.accountID, asset).available {
            return .failure(OrderRejection(.riskLimit, reason: "insufficient_balance"))
        }

        let orderID = "o_\(nextOrderNumber)"
        nextOrderNumber += 1
        var order = Order(
            orderID: orderID, clientOrderID: request.clientOrderID, accountID: request.accountID,
            instrument: instrument.symbol, side: request.side, type: request.type, timeInForce: request.timeInForce,
            price: request.price, qty: request.qty, createdMs: nowMs, updatedMs: nowMs)
        clientOrderIndex[request.accountID, default: [:]][request.clientOrderID] = orderID
        if let (asset, amount) = hold {
            ledger.hold(request.accountID, asset, amount)
            holds[orderID] = amount
        }

        var run = MatchRun(instrument: instrument.symbol)
        if request.timeInForce == .fok && fillableQty(for: order, limit: bound) < order.qty {
            order.status = .cancelled
            order.cancelReason = .fillOrKillNotFillable
        } else if request.timeInForce == .postOnly, let best = books[instrument.symbol]![request.side.opposite].best,
            BookSide.crosses(takerSide: request.side, limit: bound, levelPrice: best.price)
        {
            order.status = .cancelled
            order.cancelReason = .postOnlyWouldCross
        } else {
            match(&order, limit: bound, instrument: instrument, run: &run, nowMs: nowMs)
            finishTaker(&order, request: request, run: &run)
        }
        if order.status.isFinal { releaseHold(of: order, instrument: instrument) }
        orders[orderID] = order

        var events: [EngineEvent] = run.trades.map { EngineEvent.trade($0) }
        events += run.touchedMakers.compactMap { orders[$0].map(EngineEvent.orderUpdate) }
        events.append(.orderUpdate(order))
        if let delta = closeBookDelta(&run) { events.append(delta) }
        events += ledger.drainEvents()
        return .success(PlaceOutcome(order: order, duplicate: false, trades: run.trades, events: events))
    }

    /// Pre-trade controls; returns the price bound the order may trade up (buy) or down (sell) to.
    private func validate(_ request: OrderRequest, instrument: Instrument, nowMs: Int64) -> Result<FixedDecimal, OrderRejection> {
        if let deadline = request.deadlineMs, deadline < nowMs {
            return .failure(OrderRejection(.deadlineExceeded, field: "params.deadline_ms"))
        }
        guard instrument.status == .trading else { return .failure(OrderRejection(.tradingHalted)) }
        let qty = request.qty
        guard qty.isPositive, qty.isMultiple(of: instrument.lotSize), qty >= instrument.minQty, qty <= instrument.maxQty else {
            return .failure(OrderRejection(.qtyNotOnLot, field: "params.qty"))
        }
        let reference = referencePrices[instrument.symbol] ?? instrument.initialReferencePrice
        let band = instrument.priceCollar.flatMap { reference.multiplied(by: $0) }
        let bound: FixedDecimal
        switch request.type {
        case .limit:
            guard let price = request.price, price.isPositive else {
                return .failure(OrderRejection(.invalidParams, field: "params.price", reason: "required"))
            }
            guard price.isMultiple(of: instrument.tickSize) else { return .failure(OrderRejection(.priceNotOnTick, field: "params.price")) }
            if let band, (price - reference).magnitude > band {
                return .failure(OrderRejection(.priceOutOfBand, field: "params.price"))
            }
            bound = price
        case .market:
            guard request.price == nil else {
                return .failure(OrderRejection(.invalidParams, field: "params.price", reason: "not_allowed_for_market"))
            }
            guard request.timeInForce == .ioc || request.timeInForce == .fok else {
                return .failure(OrderRejection(.invalidParams, field: "params.tif", reason: "market_orders_are_ioc_or_fok"))
            }
            // Market orders trade only inside the collar, never through an empty book to any price.
            guard let band else {
                return .failure(OrderRejection(.invalidParams, field: "params.type", reason: "market_orders_need_a_collar"))
            }
            bound = request.side == .buy ? reference + band : max(reference - band, instrument.tickSize)
        }
        guard let notional = qty.multiplied(by: bound), notional <= instrument.maxOrderNotional,
            request.maxNotional.map({ notional <= $0 }) ?? true
        else {
            return .failure(OrderRejection(.riskLimit, field: "params.qty", reason: "max_order_notional"))
        }
        return .success(bound)
    }

    /// What placing an order must set aside, in which asset (nil: nothing).
    private func requiredHold(instrument: Instrument, side: OrderSide, qty: FixedDecimal, limit: FixedDecimal) -> (String, FixedDecimal)? {
        if side == .sell && instrument.deliversBaseAsset { return (instrument.baseAsset, qty) }
        let notional = qty.multiplied(by: limit) ?? .zero
        let fees = notional.multiplied(by: instrument.higherFeeRate) ?? .zero
        if side == .buy && instrument.buyerPaysNotional { return (instrument.quoteAsset, notional + fees) }
        if side == .sell && instrument.kind != .perpetual { return nil }  // option seller: fee comes out of the premium
        return fees.isZero ? nil : (instrument.quoteAsset, fees)
    }

    private func limitForHold(_ order: Order, instrument: Instrument) -> FixedDecimal {
        if let price = order.price { return price }
        let reference = referencePrices[instrument.symbol] ?? instrument.initialReferencePrice
        let band = instrument.priceCollar.flatMap { reference.multiplied(by: $0) } ?? .zero
        return order.side == .buy ? reference + band : reference - band
    }

    /// Brings an order's hold down to what its remaining quantity needs (zero once final).
    private mutating func adjustHold(of order: Order, instrument: Instrument, holdLimit: FixedDecimal) {
        guard let held = holds[order.orderID] else { return }
        let needed: FixedDecimal
        if order.status.isFinal {
            needed = .zero
        } else {
            needed = requiredHold(instrument: instrument, side: order.side, qty: order.remainingQty, limit: holdLimit)?.1 ?? .zero
        }
        let asset = requiredHold(instrument: instrument, side: order.side, qty: order.qty, limit: holdLimit)?.0 ?? instrument.quoteAsset
        if held > needed {
            ledger.release(order.accountID, asset, held - needed)
            holds[order.orderID] = needed
        }
    }

    private mutating func releaseHold(of order: Order, instrument: Instrument) {
        adjustHold(of: order, instrument: instrument, holdLimit: order.price ?? .zero)
        holds.removeValue(forKey: order.orderID)
    }

    // MARK: Matching

    private struct MatchRun {
        let instrument: String
        var trades: [Trade] = []
        var touchedMakers: [String] = []
        var levelChanges: [(side: OrderSide, price: FixedDecimal, qty: FixedDecimal)] = []

        mutating func record(_ side: OrderSide, _ price: FixedDecimal, _ qty: FixedDecimal) {
            if let index = levelChanges.firstIndex(where: { $0.side == side && $0.price == price }) {
                levelChanges[index].qty = qty
            } else {
                levelChanges.append((side, price, qty))
            }
        }

        mutating func touch(_ orderID: String) {
            if !touchedMakers.contains(orderID) { touchedMakers.append(orderID) }
        }
    }

    /// Quantity other accounts rest at prices the order may take (fill-or-kill pre-check; own
    /// orders would be cancelled by self-trade prevention, so they do not count).
    private func fillableQty(for order: Order, limit: FixedDecimal) -> FixedDecimal {
        var total = FixedDecimal.zero
        for level in books[order.instrument]![order.side.opposite].levels {
            guard BookSide.crosses(takerSide: order.side, limit: limit, levelPrice: level.price) else { break }
            for id in level.orderIDs where orders[id]?.accountID != order.accountID {
                total += orders[id]?.remainingQty ?? .zero
            }
            if total >= order.qty { break }
        }
        return total
    }

    private mutating func match(_ taker: inout Order, limit: FixedDecimal, instrument: Instrument, run: inout MatchRun, nowMs: Int64) {
        let makerSide = taker.side.opposite
        while taker.remainingQty.isPositive, let level = books[instrument.symbol]![makerSide].best,
            BookSide.crosses(takerSide: taker.side, limit: limit, levelPrice: level.price)
        {
            guard let makerID = level.orderIDs.first, var maker = orders[makerID] else { break }
            if maker.accountID == taker.accountID {
                // Self-trade prevention: the resting order is cancelled, the incoming one goes on.
                cancelResting(&maker, reason: .selfTradePrevention, instrument: instrument, run: &run, nowMs: nowMs)
                continue
            }
            let qty = min(taker.remainingQty, maker.remainingQty)
            let price = level.price
            let trade = settle(taker: &taker, maker: &maker, price: price, qty: qty, instrument: instrument, nowMs: nowMs)
            run.trades.append(trade)
            let newTotal = books[instrument.symbol]![makerSide].reduce(orderID: makerID, price: price, by: qty, removeOrder: maker.status == .filled)
            run.record(makerSide, price, newTotal)
            if maker.status == .filled { openOrders[maker.accountID]?.remove(makerID) }
            orders[makerID] = maker
            run.touch(makerID)
            referencePrices[instrument.symbol] = price
        }
    }

    private mutating func settle(
        taker: inout Order, maker: inout Order, price: FixedDecimal, qty: FixedDecimal, instrument: Instrument, nowMs: Int64
    ) -> Trade {
        let notional = price.multiplied(by: qty) ?? .zero
        let makerFee = notional.multiplied(by: instrument.makerFeeRate) ?? .zero
        let takerFee = notional.multiplied(by: instrument.takerFeeRate) ?? .zero
        let (buyer, seller) = taker.side == .buy ? (taker.accountID, maker.accountID) : (maker.accountID, taker.accountID)
        let quote = instrument.quoteAsset
        switch instrument.kind {
        case .spot:
            ledger.transfer(notional, of: quote, from: buyer, to: seller)
            ledger.transfer(qty, of: instrument.baseAsset, from: seller, to: buyer)
        case .option:
            ledger.transfer(notional, of: quote, from: buyer, to: seller)
            ledger.addPosition(buyer, instrument.symbol, qty)
            ledger.addPosition(seller, instrument.symbol, qty.negated)
        case .perpetual:
            ledger.addPosition(buyer, instrument.symbol, qty)
            ledger.addPosition(seller, instrument.symbol, qty.negated)
        }
        ledger.transfer(makerFee, of: quote, from: maker.accountID, to: Self.feeAccountID)
        ledger.transfer(takerFee, of: quote, from: taker.accountID, to: Self.feeAccountID)
        apply(fill: qty, at: price, to: &taker, nowMs: nowMs)
        apply(fill: qty, at: price, to: &maker, nowMs: nowMs)
        // Spot sellers' held base left with the transfer; the matching hold goes with it.
        adjustHold(of: maker, instrument: instrument, holdLimit: limitForHold(maker, instrument: instrument))
        adjustHold(of: taker, instrument: instrument, holdLimit: limitForHold(taker, instrument: instrument))
        let trade = Trade(
            tradeID: "t_\(nextTradeNumber)", instrument: instrument.symbol, price: price, qty: qty, takerSide: taker.side,
            makerOrderID: maker.orderID, takerOrderID: taker.orderID, makerAccountID: maker.accountID,
            takerAccountID: taker.accountID, makerFee: makerFee, takerFee: takerFee, timestampMs: nowMs)
        nextTradeNumber += 1
        return trade
    }

    private func apply(fill qty: FixedDecimal, at price: FixedDecimal, to order: inout Order, nowMs: Int64) {
        order.filledQty += qty
        order.filledNotional += price.multiplied(by: qty) ?? .zero
        order.status = order.remainingQty.isZero ? .filled : .partiallyFilled
        order.updatedMs = nowMs
    }

    /// After matching: rest the remainder (gtc, post_only) or cancel it (ioc, fok, market).
    private mutating func finishTaker(_ order: inout Order, request: OrderRequest, run: inout MatchRun) {
        guard order.remainingQty.isPositive else { return }
        switch (request.type, request.timeInForce) {
        case (.limit, .gtc), (.limit, .postOnly):
            let total = books[order.instrument]![order.side].add(orderID: order.orderID, price: order.price!, qty: order.remainingQty)
            run.record(order.side, order.price!, total)
            openOrders[order.accountID, default: []].insert(order.orderID)
        case (.market, _):
            order.status = .cancelled
            order.cancelReason = order.filledQty.isZero ? .noLiquidity : .marketCollar
        default:
            order.status = .cancelled
            order.cancelReason = .immediateOrCancelRemainder
        }
    }

    private mutating func closeBookDelta(_ run: inout MatchRun) -> EngineEvent? {
        guard !run.levelChanges.isEmpty else { return nil }
        books[run.instrument]!.seq += 1
        let changes = run.levelChanges.map { BookLevelChange(side: $0.side, price: $0.price, qty: $0.qty) }
        return .bookDelta(instrument: run.instrument, seq: books[run.instrument]!.seq, changes: changes)
    }

    // MARK: Cancelling

    private mutating func cancelResting(_ order: inout Order, reason: CancelReason, instrument: Instrument, run: inout MatchRun, nowMs: Int64) {
        let total = books[order.instrument]![order.side].reduce(orderID: order.orderID, price: order.price!, by: order.remainingQty, removeOrder: true)
        run.record(order.side, order.price!, total)
        order.status = .cancelled
        order.cancelReason = reason
        order.updatedMs = nowMs
        openOrders[order.accountID]?.remove(order.orderID)
        releaseHold(of: order, instrument: instrument)
        orders[order.orderID] = order
        run.touch(order.orderID)
    }

    public mutating func cancel(accountID: String, orderID: String, nowMs: Int64) -> Result<(Order, [EngineEvent]), OrderRejection> {
        guard var order = order(accountID: accountID, orderID: orderID) else {
            return .failure(OrderRejection(.orderNotFound, field: "params.order_id"))
        }
        guard !order.status.isFinal, let instrument = instruments[order.instrument] else {
            return .failure(OrderRejection(.orderNotFound, field: "params.order_id", reason: "order_closed"))
        }
        var run = MatchRun(instrument: order.instrument)
        cancelResting(&order, reason: .user, instrument: instrument, run: &run, nowMs: nowMs)
        var events: [EngineEvent] = [.orderUpdate(order)]
        if let delta = closeBookDelta(&run) { events.append(delta) }
        events += ledger.drainEvents()
        return .success((order, events))
    }

    public mutating func cancelAll(accountID: String, instrument symbol: String?, nowMs: Int64) -> ([Order], [EngineEvent]) {
        var cancelled: [Order] = []
        var events: [EngineEvent] = []
        let targets = openOrders(accountID: accountID).filter { symbol == nil || $0.instrument == symbol }
        for instrumentSymbol in Set(targets.map(\.instrument)).sorted() {
            guard let instrument = instruments[instrumentSymbol] else { continue }
            var run = MatchRun(instrument: instrumentSymbol)
            for var order in targets where order.instrument == instrumentSymbol {
                cancelResting(&order, reason: .cancelAll, instrument: instrument, run: &run, nowMs: nowMs)
                cancelled.append(order)
                events.append(.orderUpdate(order))
            }
            if let delta = closeBookDelta(&run) { events.append(delta) }
        }
        events += ledger.drainEvents()
        return (cancelled, events)
    }
}
