import BulwarkCore

/// Matching, settlement and the events of one operation.
extension MatchingEngine {
    /// What one operation did to one instrument, gathered into its events at the end.
    struct MatchRun {
        private struct LevelKey: Hashable {
            let side: OrderSide
            let price: FixedDecimal
        }

        let instrument: String
        var trades: [Trade] = []
        /// Resting orders the operation changed (filled, cancelled, amended), in first-touch order.
        private(set) var touchedOrders: [String] = []
        private var touchedSet: Set<String> = []
        private(set) var levelChanges: [BookLevelChange] = []
        private var levelIndex: [LevelKey: Int] = [:]

        init(instrument: String) { self.instrument = instrument }

        /// Records a level's new total; a level touched twice keeps one entry with the last total.
        mutating func record(_ side: OrderSide, _ price: FixedDecimal, _ total: FixedDecimal) {
            let key = LevelKey(side: side, price: price)
            let change = BookLevelChange(side: side, price: price, qty: total)
            if let index = levelIndex[key] {
                levelChanges[index] = change
            } else {
                levelIndex[key] = levelChanges.count
                levelChanges.append(change)
            }
        }

        mutating func touch(_ orderID: String) {
            if touchedSet.insert(orderID).inserted { touchedOrders.append(orderID) }
        }
    }

    /// Crosses `taker` against the opposite side while it has quantity and the best level is at
    /// or better than `limit`: best price first, then arrival order; each trade at the resting
    /// order's price. A resting order of the taker's own account is cancelled
    /// (`self_trade_prevention`) and matching goes on.
    mutating func match(_ taker: inout Order, limit: FixedDecimal, instrument: Instrument, run: inout MatchRun, nowMs: Int64) {
        let symbol = instrument.symbol
        let makerSide = taker.side.opposite
        while taker.remainingQty.isPositive, let (price, makerID) = books[symbol]![makerSide].bestFront,
            crosses(takerSide: taker.side, limit: limit, levelPrice: price)
        {
            var maker = orders[makerID]!
            if maker.accountID == taker.accountID {
                cancelResting(&maker, reason: .selfTradePrevention, run: &run, nowMs: nowMs)
                continue
            }
            let qty = min(taker.remainingQty, maker.remainingQty)
            let trade = settle(taker: &taker, maker: &maker, price: price, qty: qty, instrument: instrument, nowMs: nowMs)
            run.trades.append(trade)
            let newTotal = books[symbol]![makerSide].reduce(orderID: makerID, price: price, by: qty, removeOrder: maker.status == .filled)
            run.record(makerSide, price, newTotal)
            if maker.status == .filled {
                openOrderIDs[maker.accountID]?.remove(makerID)
                releaseHold(of: maker)
            } else if let needed = requiredHold(instrument: instrument, side: maker.side, qty: maker.remainingQty, price: price) {
                // The filled part's hold is released; what was spent already left `total`.
                setHold(of: maker, asset: needed.asset, to: needed.amount)
            }
            orders[makerID] = maker
            run.touch(makerID)
            referencePrices[symbol] = price
        }
    }

    /// Moves assets and positions for one execution, charges fees and records the fill on both
    /// orders. Holds are adjusted by the caller.
    private mutating func settle(
        taker: inout Order, maker: inout Order, price: FixedDecimal, qty: FixedDecimal, instrument: Instrument, nowMs: Int64
    ) -> Trade {
        // Cannot overflow: qty ≤ the maker's remaining quantity and the maker's qty × price passed
        // the notional check when it was placed or amended.
        let notional = price.multiplied(by: qty)!
        let makerFee = notional.multiplied(by: instrument.makerFeeRate) ?? .zero
        let takerFee = notional.multiplied(by: instrument.takerFeeRate) ?? .zero
        let (buyer, seller) = taker.side == .buy ? (taker.accountID, maker.accountID) : (maker.accountID, taker.accountID)
        let quote = instrument.quoteAsset
        switch instrument.kind {
        case .spot:
            ledger.transfer(notional, of: quote, from: buyer, to: seller)
            ledger.transfer(qty, of: instrument.baseAsset, from: seller, to: buyer)
        case .option:
            // The buyer pays the premium; no margin is taken from the seller (first version).
            ledger.transfer(notional, of: quote, from: buyer, to: seller)
            ledger.addPosition(buyer, instrument.symbol, qty)
            ledger.addPosition(seller, instrument.symbol, qty.negated)
        case .perpetual:
            ledger.addPosition(buyer, instrument.symbol, qty)
            ledger.addPosition(seller, instrument.symbol, qty.negated)
        }
        ledger.transfer(makerFee, of: quote, from: maker.accountID, to: Self.feeAccountID)
        ledger.transfer(takerFee, of: quote, from: taker.accountID, to: Self.feeAccountID)
        Self.recordFill(&taker, qty: qty, notional: notional, nowMs: nowMs)
        Self.recordFill(&maker, qty: qty, notional: notional, nowMs: nowMs)
        let trade = Trade(
            tradeID: "t_\(nextTradeNumber)", instrument: instrument.symbol, price: price, qty: qty, takerSide: taker.side,
            makerOrderID: maker.orderID, takerOrderID: taker.orderID, makerAccountID: maker.accountID,
            takerAccountID: taker.accountID, makerFee: makerFee, takerFee: takerFee, timestampMs: nowMs)
        nextTradeNumber += 1
        return trade
    }

    private static func recordFill(_ order: inout Order, qty: FixedDecimal, notional: FixedDecimal, nowMs: Int64) {
        order.filledQty += qty
        order.filledNotional += notional
        order.status = order.remainingQty.isZero ? .filled : .partiallyFilled
        order.updatedMs = nowMs
    }

    /// After matching: a filled order is done; a gtc or post-only limit rests its remainder (its
    /// hold shrinks to what the remainder needs at its own price); ioc/fok limits and market
    /// orders cancel it (`ioc_remainder`; `no_liquidity` when nothing is left on the opposite side,
    /// otherwise `market_collar`).
    mutating func finishTaker(_ order: inout Order, instrument: Instrument, run: inout MatchRun, nowMs: Int64) {
        order.updatedMs = nowMs
        guard order.remainingQty.isPositive else {
            releaseHold(of: order)
            return
        }
        switch (order.type, order.timeInForce) {
        case (.limit, .gtc), (.limit, .postOnly):
            let price = order.price!
            let total = books[order.instrument]![order.side].add(orderID: order.orderID, price: price, qty: order.remainingQty)
            run.record(order.side, price, total)
            openOrderIDs[order.accountID, default: []].insert(order.orderID)
            if let needed = requiredHold(instrument: instrument, side: order.side, qty: order.remainingQty, price: price) {
                setHold(of: order, asset: needed.asset, to: needed.amount)
            } else {
                releaseHold(of: order)
            }
        case (.market, _):
            order.status = .cancelled
            order.cancelReason = books[order.instrument]![order.side.opposite].isEmpty ? .noLiquidity : .marketCollar
            releaseHold(of: order)
        case (.limit, .ioc), (.limit, .fok):
            order.status = .cancelled
            order.cancelReason = .immediateOrCancelRemainder
            releaseHold(of: order)
        }
    }

    /// Takes a resting order off the book and cancels it; releases its hold.
    mutating func cancelResting(_ order: inout Order, reason: CancelReason, run: inout MatchRun, nowMs: Int64) {
        let price = order.price!
        let total = books[order.instrument]![order.side].reduce(orderID: order.orderID, price: price, by: order.remainingQty, removeOrder: true)
        run.record(order.side, price, total)
        order.status = .cancelled
        order.cancelReason = reason
        order.updatedMs = nowMs
        openOrderIDs[order.accountID]?.remove(order.orderID)
        releaseHold(of: order)
        orders[order.orderID] = order
        run.touch(order.orderID)
    }

    /// The operation's events in the documented order: trades, updates of the resting orders it
    /// touched, `lastly` (the incoming order), the book delta, then balances and positions.
    mutating func events(of run: inout MatchRun, lastly: Order?) -> [EngineEvent] {
        var events: [EngineEvent] = run.trades.map { .trade($0) }
        events += run.touchedOrders.compactMap { orders[$0].map(EngineEvent.orderUpdate) }
        if let lastly { events.append(.orderUpdate(lastly)) }
        if let delta = closeBookDelta(&run) { events.append(delta) }
        events += ledger.drainEvents()
        return events
    }

    /// One delta per operation that changed the book, with the book's next sequence number.
    mutating func closeBookDelta(_ run: inout MatchRun) -> EngineEvent? {
        guard !run.levelChanges.isEmpty else { return nil }
        books[run.instrument]!.seq += 1
        return .bookDelta(instrument: run.instrument, seq: books[run.instrument]!.seq, changes: run.levelChanges)
    }
}
