import BulwarkCore

/// Placing orders: idempotency, pre-trade controls, the balance check, time-in-force outcomes.
extension MatchingEngine {
    /// How a validated request may trade.
    struct Placement {
        /// The worst price the order may trade at: its limit, or for a market order the collar
        /// bound on its side.
        let limit: FixedDecimal
        /// The price its hold is computed at: the worst price it can pay (buys) or the best price
        /// it can receive (sells: a perpetual seller's fee grows with the price).
        let holdPrice: FixedDecimal
    }

    /// Places an order: checks it, then matches it and rests, cancels or fills it.
    ///
    /// A repeated `clientOrderID` of the same account returns the original order with
    /// `duplicate == true` and no events, whatever the repeat's parameters. A refused request
    /// (`.failure`) stores nothing, so it may be retried with the same `clientOrderID`.
    ///
    /// Pre-trade controls, in order, each with its code:
    /// unknown instrument (`unknown_instrument`); deadline passed, `deadlineMs < nowMs`
    /// (`deadline_exceeded`); halted (`trading_halted`); a market order with a price, or with
    /// `gtc`/`post_only`, or on an instrument without a collar, and a limit order without a
    /// positive price (`invalid_params`); quantity not positive, not a multiple of the lot or outside
    /// [minQty, maxQty] (`qty_not_on_lot`); price not on tick (`price_not_on_tick`); limit price
    /// outside the collar (`price_out_of_band`); notional above the instrument's or the key's cap
    /// (`risk_limit`, reason `max_order_notional`); the account limits (`risk_limit`, reasons
    /// `max_open_orders`, `max_open_notional`, `position_limit`: see `AccountLimits`); not enough
    /// available balance for the hold (`risk_limit`, reason `insufficient_balance`).
    public mutating func place(_ request: OrderRequest, nowMs: Int64) -> Result<PlaceOutcome, OrderRejection> {
        if let existing = order(accountID: request.accountID, clientOrderID: request.clientOrderID) {
            return .success(PlaceOutcome(order: existing, duplicate: true, trades: [], events: []))
        }
        guard let instrument = instruments[request.instrument] else {
            return .failure(OrderRejection(.unknownInstrument, field: "params.instrument"))
        }
        let placement: Placement
        switch validate(request, instrument: instrument, nowMs: nowMs) {
        case .failure(let rejection): return .failure(rejection)
        case .success(let value): placement = value
        }
        let rests = request.type == .limit && (request.timeInForce == .gtc || request.timeInForce == .postOnly)
        if let rejection = checkAccountLimits(
            accountID: request.accountID, instrument: instrument, side: request.side, qty: request.qty, price: placement.limit, rests: rests)
        {
            return .failure(rejection)
        }
        let hold = requiredHold(instrument: instrument, side: request.side, qty: request.qty, price: placement.holdPrice)
        if let hold, hold.amount > ledger.available(request.accountID, hold.asset) {
            return .failure(OrderRejection(.riskLimit, field: "params.qty", reason: "insufficient_balance"))
        }

        // Accepted: from here on the order exists and is indexed for idempotency.
        let (orderID, number) = makeOrderID()
        var order = Order(
            orderID: orderID, clientOrderID: request.clientOrderID, accountID: request.accountID,
            instrument: instrument.symbol, side: request.side, type: request.type, timeInForce: request.timeInForce,
            price: request.price, qty: request.qty, createdMs: nowMs, updatedMs: nowMs, number: number)
        order.keyID = request.keyID
        clientOrderIndex[request.accountID, default: [:]][request.clientOrderID] = orderID

        // Outcomes decided before anything moves: the order ends cancelled, and its only event is
        // its own update (no trade, no book change, no balance change).
        if let reason = refusalByTimeInForce(order, limit: placement.limit) {
            order.status = .cancelled
            order.cancelReason = reason
            orders[orderID] = order
            return .success(PlaceOutcome(order: order, duplicate: false, trades: [], events: [.orderUpdate(order)]))
        }

        if let hold { setHold(of: order, asset: hold.asset, to: hold.amount) }
        var run = MatchRun(instrument: instrument.symbol)
        match(&order, limit: placement.limit, instrument: instrument, run: &run, nowMs: nowMs)
        finishTaker(&order, instrument: instrument, run: &run, nowMs: nowMs)
        orders[orderID] = order
        return .success(PlaceOutcome(order: order, duplicate: false, trades: run.trades, events: events(of: &run, lastly: order)))
    }

    /// Fill-or-kill that cannot fill completely, post-only that would take liquidity.
    private func refusalByTimeInForce(_ order: Order, limit: FixedDecimal) -> CancelReason? {
        switch order.timeInForce {
        case .fok:
            return fillableQty(for: order, limit: limit) < order.qty ? .fillOrKillNotFillable : nil
        case .postOnly:
            // Any crossing level counts, the account's own included (it would be a self-trade).
            guard let best = books[order.instrument]![order.side.opposite].best else { return nil }
            return crosses(takerSide: order.side, limit: limit, levelPrice: best.price) ? .postOnlyWouldCross : nil
        case .gtc, .ioc:
            return nil
        }
    }

    /// Quantity that other accounts rest at prices the order may take (the fill-or-kill check; the
    /// account's own orders would be cancelled by self-trade prevention, so they do not count).
    func fillableQty(for order: Order, limit: FixedDecimal) -> FixedDecimal {
        var total = FixedDecimal.zero
        for level in books[order.instrument]![order.side.opposite].levelsBestFirst {
            guard crosses(takerSide: order.side, limit: limit, levelPrice: level.price) else { break }
            for id in level.orderIDs {
                guard let resting = orders[id], resting.accountID != order.accountID else { continue }
                total += resting.remainingQty
            }
            if total >= order.qty { break }
        }
        return total
    }

    // MARK: Pre-trade controls

    /// The collar band around the reference price (nil: the instrument has no collar).
    func collar(_ instrument: Instrument) -> (reference: FixedDecimal, band: FixedDecimal)? {
        let reference = referencePrices[instrument.symbol] ?? instrument.initialReferencePrice
        guard let fraction = instrument.priceCollar, let band = reference.multiplied(by: fraction) else { return nil }
        return (reference, band)
    }

    func checkQty(_ qty: FixedDecimal, instrument: Instrument) -> OrderRejection? {
        let reason: String? =
            !qty.isPositive ? "not_positive"
            : !qty.isMultiple(of: instrument.lotSize) ? "not_on_lot"
            : qty < instrument.minQty ? "below_min_qty"
            : qty > instrument.maxQty ? "above_max_qty"
            : nil
        return reason.map { OrderRejection(.qtyNotOnLot, field: "params.qty", reason: $0) }
    }

    /// Tick and collar checks of a positive limit price.
    func checkLimitPrice(_ price: FixedDecimal, instrument: Instrument) -> OrderRejection? {
        guard price.isMultiple(of: instrument.tickSize) else { return OrderRejection(.priceNotOnTick, field: "params.price") }
        if let (reference, band) = collar(instrument), (price - reference).magnitude > band {
            return OrderRejection(.priceOutOfBand, field: "params.price")
        }
        return nil
    }

    func checkNotional(qty: FixedDecimal, price: FixedDecimal, instrument: Instrument, keyCap: FixedDecimal?) -> OrderRejection? {
        guard let notional = qty.multiplied(by: price), notional <= instrument.maxOrderNotional, keyCap.map({ notional <= $0 }) ?? true else {
            return OrderRejection(.riskLimit, field: "params.qty", reason: "max_order_notional")
        }
        return nil
    }

    private func validate(_ request: OrderRequest, instrument: Instrument, nowMs: Int64) -> Result<Placement, OrderRejection> {
        if let deadline = request.deadlineMs, deadline < nowMs {
            return .failure(OrderRejection(.deadlineExceeded, field: "params.deadline_ms"))
        }
        guard instrument.status == .trading else { return .failure(OrderRejection(.tradingHalted, field: "params.instrument")) }
        switch request.type {
        case .limit:
            guard let price = request.price, price.isPositive else {
                return .failure(OrderRejection(.invalidParams, field: "params.price", reason: "required"))
            }
        case .market:
            guard request.price == nil else {
                return .failure(OrderRejection(.invalidParams, field: "params.price", reason: "not_allowed_for_market"))
            }
            guard request.timeInForce == .ioc || request.timeInForce == .fok else {
                return .failure(OrderRejection(.invalidParams, field: "params.tif", reason: "market_orders_are_ioc_or_fok"))
            }
            // Market orders trade only inside the collar, never through an empty book to any price.
            guard collar(instrument) != nil else {
                return .failure(OrderRejection(.invalidParams, field: "params.type", reason: "market_orders_need_a_collar"))
            }
        }
        if let rejection = checkQty(request.qty, instrument: instrument) { return .failure(rejection) }

        let bestBid = books[instrument.symbol]!.bids.best?.price
        let placement: Placement
        let notionalPrice: FixedDecimal
        if let price = request.price {
            if let rejection = checkLimitPrice(price, instrument: instrument) { return .failure(rejection) }
            // A sell takes bids at or above its limit, so its fee is bounded by the best bid.
            let holdPrice = request.side == .sell ? max(price, bestBid ?? price) : price
            placement = Placement(limit: price, holdPrice: holdPrice)
            notionalPrice = price
        } else {
            let (reference, band) = collar(instrument)!
            if request.side == .buy {
                let upper = reference + band
                placement = Placement(limit: upper, holdPrice: upper)
                notionalPrice = upper
            } else {
                let lower = max(reference - band, instrument.tickSize)
                let highest = max(lower, bestBid ?? lower)
                placement = Placement(limit: lower, holdPrice: highest)
                notionalPrice = highest
            }
        }
        if let rejection = checkNotional(qty: request.qty, price: notionalPrice, instrument: instrument, keyCap: request.maxNotional) {
            return .failure(rejection)
        }
        return .success(placement)
    }

    // MARK: Holds

    /// What an order of `qty` needs set aside at `price` (nil: nothing):
    /// spot sell → the base quantity; spot or option buy → notional + fee at the higher fee rate;
    /// option sell → nothing (the fee comes out of the premium); perpetual → the fee.
    /// A product too large to represent yields an amount no account can have.
    func requiredHold(instrument: Instrument, side: OrderSide, qty: FixedDecimal, price: FixedDecimal) -> Hold? {
        if instrument.kind == .spot && side == .sell { return qty.isPositive ? Hold(asset: instrument.baseAsset, amount: qty) : nil }
        if case .option = instrument.kind, side == .sell { return nil }
        let unaffordable = FixedDecimal(units: Int128.max / 4)
        guard let notional = qty.multiplied(by: price) else { return Hold(asset: instrument.quoteAsset, amount: unaffordable) }
        let fee = notional.multiplied(by: instrument.higherFeeRate) ?? unaffordable
        let (sum, overflow) = notional.units.addingReportingOverflow(fee.units)
        let amount = instrument.kind == .perpetual ? fee : overflow ? unaffordable : FixedDecimal(units: sum)
        return amount.isPositive ? Hold(asset: instrument.quoteAsset, amount: amount) : nil
    }
}
