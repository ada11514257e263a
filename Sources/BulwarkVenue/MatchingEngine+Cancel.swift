import BulwarkCore

/// Cancelling and amending resting orders.
extension MatchingEngine {
    // MARK: Cancel

    /// Cancels one of the account's resting orders. Unknown ids and other accounts' orders are
    /// `order_not_found`; an order that is already final is `order_not_found` with reason
    /// `order_closed`.
    public mutating func cancel(accountID: String, orderID: String, nowMs: Int64) -> Result<OrderOutcome, OrderRejection> {
        cancel(order(accountID: accountID, orderID: orderID), field: "params.order_id", nowMs: nowMs)
    }

    /// Cancels by the account's client order id (same rules as by order id).
    public mutating func cancel(accountID: String, clientOrderID: String, nowMs: Int64) -> Result<OrderOutcome, OrderRejection> {
        cancel(order(accountID: accountID, clientOrderID: clientOrderID), field: "params.client_order_id", nowMs: nowMs)
    }

    private mutating func cancel(_ found: Order?, field: String, nowMs: Int64) -> Result<OrderOutcome, OrderRejection> {
        guard var order = found else { return .failure(OrderRejection(.orderNotFound, field: field)) }
        guard order.isResting else { return .failure(OrderRejection(.orderNotFound, field: field, reason: "order_closed")) }
        var run = MatchRun(instrument: order.instrument)
        cancelResting(&order, reason: .user, run: &run, nowMs: nowMs)
        return .success(OrderOutcome(order: order, events: events(of: &run, lastly: nil)))
    }

    /// Cancels every resting order of the account (on one instrument, or all when nil), oldest
    /// first; one book delta per instrument. Returns the cancelled orders and the events.
    public mutating func cancelAll(
        accountID: String, instrument symbol: String?, reason: CancelReason = .cancelAll, nowMs: Int64
    ) -> ([Order], [EngineEvent]) {
        let targets = openOrders(accountID: accountID).filter { symbol == nil || $0.instrument == symbol }
        var cancelled: [Order] = []
        var orderEvents: [EngineEvent] = []
        var deltas: [EngineEvent] = []
        for instrumentSymbol in instrumentOrder where targets.contains(where: { $0.instrument == instrumentSymbol }) {
            var run = MatchRun(instrument: instrumentSymbol)
            for var order in targets where order.instrument == instrumentSymbol {
                cancelResting(&order, reason: reason, run: &run, nowMs: nowMs)
                cancelled.append(order)
                orderEvents.append(.orderUpdate(order))
            }
            if let delta = closeBookDelta(&run) { deltas.append(delta) }
        }
        // Orders, then deltas, then balances (each once, final values), as for every operation.
        return (cancelled, orderEvents + deltas + ledger.drainEvents())
    }

    // MARK: Amend

    /// Changes a resting order's limit price and/or total quantity (`newQty` counts what is
    /// already filled, so it must exceed `filledQty`). A price change or a size increase sends the
    /// order to the back of its (new) level; a size decrease keeps its place in the queue.
    ///
    /// The new values pass the same controls as a new order (halted, lot, tick, collar, notional,
    /// account limits when the price or a larger size changes the exposure, available balance for
    /// a larger hold). An amend never trades: a new price that would cross the opposite side is
    /// refused (`invalid_params`, reason `would_cross`). Amending to the current values changes
    /// nothing and emits no events.
    public mutating func amend(
        accountID: String, orderID: String, newPrice: FixedDecimal?, newQty: FixedDecimal?, nowMs: Int64,
        maxNotional: FixedDecimal? = nil
    ) -> Result<OrderOutcome, OrderRejection> {
        guard var order = order(accountID: accountID, orderID: orderID) else {
            return .failure(OrderRejection(.orderNotFound, field: "params.order_id"))
        }
        guard order.isResting, let oldPrice = order.price, let instrument = instruments[order.instrument] else {
            return .failure(OrderRejection(.orderNotFound, field: "params.order_id", reason: "order_closed"))
        }
        guard instrument.status == .trading else { return .failure(OrderRejection(.tradingHalted, field: "params.instrument")) }
        guard newPrice != nil || newQty != nil else {
            return .failure(OrderRejection(.invalidParams, field: "params", reason: "nothing_to_amend"))
        }
        let price = newPrice ?? oldPrice
        let qty = newQty ?? order.qty
        if newQty != nil {
            if let rejection = checkQty(qty, instrument: instrument) { return .failure(rejection) }
            guard qty > order.filledQty else {
                return .failure(OrderRejection(.invalidParams, field: "params.qty", reason: "not_above_filled_qty"))
            }
        }
        if newPrice != nil {
            guard price.isPositive else { return .failure(OrderRejection(.invalidParams, field: "params.price", reason: "required")) }
            if price != oldPrice, let rejection = checkLimitPrice(price, instrument: instrument) { return .failure(rejection) }
        }
        if let rejection = checkNotional(qty: qty, price: price, instrument: instrument, keyCap: maxNotional) {
            return .failure(rejection)
        }
        if price == oldPrice && qty == order.qty { return .success(OrderOutcome(order: order, events: [])) }
        if qty > order.qty || price != oldPrice, let rejection = checkAccountLimits(
            accountID: accountID, instrument: instrument, side: order.side, qty: qty - order.filledQty, price: price, rests: true,
            amending: order)
        {
            return .failure(rejection)
        }
        if price != oldPrice, let best = books[order.instrument]![order.side.opposite].best,
            crosses(takerSide: order.side, limit: price, levelPrice: best.price)
        {
            return .failure(OrderRejection(.invalidParams, field: "params.price", reason: "would_cross"))
        }
        let oldRemaining = order.remainingQty
        let newRemaining = qty - order.filledQty
        let needed = requiredHold(instrument: instrument, side: order.side, qty: newRemaining, price: price)
        let current = holds[order.orderID]?.amount ?? .zero
        if let needed, needed.amount - current > ledger.available(accountID, needed.asset) {
            return .failure(OrderRejection(.riskLimit, field: "params.qty", reason: "insufficient_balance"))
        }

        var run = MatchRun(instrument: order.instrument)
        let side = order.side
        if price != oldPrice || newRemaining > oldRemaining {
            // Loses time priority: out of the queue, back in at the end of the new level.
            let oldTotal = books[order.instrument]![side].reduce(orderID: orderID, price: oldPrice, by: oldRemaining, removeOrder: true)
            run.record(side, oldPrice, oldTotal)
            let newTotal = books[order.instrument]![side].add(orderID: orderID, price: price, qty: newRemaining)
            run.record(side, price, newTotal)
        } else {
            let total = books[order.instrument]![side].reduce(orderID: orderID, price: price, by: oldRemaining - newRemaining, removeOrder: false)
            run.record(side, price, total)
        }
        order.price = price
        order.qty = qty
        order.updatedMs = nowMs
        if let needed {
            setHold(of: order, asset: needed.asset, to: needed.amount)
        } else {
            releaseHold(of: order)
        }
        orders[orderID] = order
        return .success(OrderOutcome(order: order, events: events(of: &run, lastly: order)))
    }
}
