@testable import BulwarkCore
@testable import BulwarkVenue
import Testing

/// Matching rules: priority, time in force, market orders, self-trade prevention, events.
@Suite struct MatchingEngineTests {
    @Test func partialFillsAcrossSeveralLevelsThenRestsTheRemainder() throws {
        var h = Harness()
        try h.accept("a_alice", .sell, "1", at: "100")
        try h.accept("a_alice", .sell, "2", at: "101")
        try h.accept("a_bob", .sell, "3", at: "102")
        let seqBefore = h.engine.snapshot(instrument: "BTC-USD")!.seq

        let outcome = try h.accept("a_carol", .buy, "7", at: "102")
        #expect(outcome.trades.map { "\($0.qty)@\($0.price)" } == ["1@100", "2@101", "3@102"])
        #expect(outcome.trades.map(\.tradeID) == ["t_1", "t_2", "t_3"])
        #expect(outcome.trades.allSatisfy { $0.takerSide == .buy && $0.takerAccountID == "a_carol" })
        #expect(outcome.order.status == .partiallyFilled)
        #expect(outcome.order.filledQty == d("6"))
        #expect(outcome.order.remainingQty == d("1"))
        // (100 + 202 + 306) / 6 = 101.333…, truncated at 18 decimals.
        #expect(outcome.order.averagePrice == d("101.333333333333333333"))
        #expect(h.levels().bids == ["1@102"])
        #expect(h.levels().asks == [])
        #expect(h.engine.referencePrice("BTC-USD") == d("102"))

        // One delta for the whole operation: three ask levels gone, the new bid level.
        let deltas = outcome.events.compactMap { event -> (UInt64, [BookLevelChange])? in
            if case .bookDelta(_, let seq, let changes) = event { (seq, changes) } else { nil }
        }
        #expect(deltas.count == 1)
        #expect(deltas.first?.0 == seqBefore + 1)
        #expect(deltas.first?.1 == [
            BookLevelChange(side: .sell, price: d("100"), qty: .zero),
            BookLevelChange(side: .sell, price: d("101"), qty: .zero),
            BookLevelChange(side: .sell, price: d("102"), qty: .zero),
            BookLevelChange(side: .buy, price: d("102"), qty: d("1")),
        ])
        h.expectConsistent()
    }

    @Test func eventsComeInTheDocumentedOrder() throws {
        var h = Harness()
        let maker = try h.accept("a_alice", .sell, "1", at: "100")
        #expect(maker.events.map(\.kind) == ["order", "book", "balance"])
        #expect(maker.events.first?.order?.status == .open)

        let taker = try h.accept("a_bob", .buy, "0.4", at: "100")
        #expect(taker.events.map(\.kind) == ["trade", "order", "order", "book", "balance", "balance", "balance", "balance", "balance"])
        let updates = taker.events.compactMap(\.order)
        #expect(updates.map(\.orderID) == [maker.order.orderID, taker.order.orderID])
        #expect(updates.map(\.status) == [.partiallyFilled, .filled])
        // Each balance appears once, with its final value.
        let balanceKeys = taker.events.compactMap { event -> String? in
            if case .balanceUpdate(let account, let balance) = event { "\(account)/\(balance.asset)" } else { nil }
        }
        #expect(Set(balanceKeys).count == balanceKeys.count)
        for case .balanceUpdate(let account, let balance) in taker.events {
            #expect(balance == h.balance(account, balance.asset))
        }
    }

    @Test func sameLevelFillsInArrivalOrder() throws {
        var h = Harness()
        let first = try h.accept("a_alice", .sell, "1", at: "100")
        let second = try h.accept("a_bob", .sell, "1", at: "100")

        let one = try h.accept("a_carol", .buy, "1", at: "100")
        #expect(one.trades.map(\.makerOrderID) == [first.order.orderID])
        let two = try h.accept("a_carol", .buy, "1", at: "100")
        #expect(two.trades.map(\.makerOrderID) == [second.order.orderID])
    }

    @Test func partialFillKeepsTheMakersPlace() throws {
        var h = Harness()
        let first = try h.accept("a_alice", .sell, "2", at: "100")
        let second = try h.accept("a_bob", .sell, "1", at: "100")
        _ = try h.accept("a_carol", .buy, "1", at: "100")
        let next = try h.accept("a_carol", .buy, "1.5", at: "100")
        #expect(next.trades.map { "\($0.makerOrderID):\($0.qty)" } == ["\(first.order.orderID):1", "\(second.order.orderID):0.5"])
    }

    @Test func betterPriceFirstAndTradesAtTheMakersPrice() throws {
        var h = Harness()
        try h.accept("a_alice", .sell, "1", at: "101")
        let better = try h.accept("a_bob", .sell, "1", at: "99")
        let outcome = try h.accept("a_carol", .buy, "1", at: "105")
        #expect(outcome.trades.count == 1)
        #expect(outcome.trades.first?.makerOrderID == better.order.orderID)
        #expect(outcome.trades.first?.price == d("99"))

        // Bids: the highest first.
        try h.accept("a_alice", .buy, "1", at: "95")
        let bestBid = try h.accept("a_bob", .buy, "1", at: "97")
        let sell = try h.accept("a_carol", .sell, "1", at: "90")
        #expect(sell.trades.first?.makerOrderID == bestBid.order.orderID)
        #expect(sell.trades.first?.price == d("97"))
        #expect(sell.trades.first?.takerSide == .sell)
    }

    @Test func fillOrKillThatCannotFillDoesNothing() throws {
        var h = Harness()
        try h.accept("a_alice", .sell, "1", at: "100")
        try h.accept("a_bob", .sell, "1", at: "102")
        // a_carol's own ask does not count (it would be a self-trade).
        try h.accept("a_carol", .sell, "5", at: "101")
        let before = h.engine.snapshot(instrument: "BTC-USD")!
        let balancesBefore = h.engine.balances(accountID: "a_carol")

        let outcome = try h.accept("a_carol", .buy, "2", at: "101", tif: .fok)
        #expect(outcome.order.status == .cancelled)
        #expect(outcome.order.cancelReason == .fillOrKillNotFillable)
        #expect(outcome.order.filledQty == .zero)
        #expect(outcome.trades.isEmpty)
        #expect(outcome.events.map(\.kind) == ["order"])
        #expect(h.engine.snapshot(instrument: "BTC-USD")! == before)
        #expect(h.engine.balances(accountID: "a_carol") == balancesBefore)
        #expect(h.engine.openOrders(accountID: "a_carol").count == 1)
        h.expectConsistent()
    }

    @Test func fillOrKillThatCanFillFillsCompletely() throws {
        var h = Harness()
        try h.accept("a_alice", .sell, "1", at: "100")
        try h.accept("a_bob", .sell, "1", at: "102")
        let outcome = try h.accept("a_carol", .buy, "2", at: "102", tif: .fok)
        #expect(outcome.order.status == .filled)
        #expect(outcome.trades.map(\.qty) == [d("1"), d("1")])
        #expect(h.levels().asks.isEmpty)

        // Market fill-or-kill too.
        try h.accept("a_alice", .sell, "1", at: "101")
        let market = try h.accept("a_bob", .buy, "2", at: nil, tif: .fok)
        #expect(market.order.status == .cancelled && market.order.cancelReason == .fillOrKillNotFillable)
        #expect(h.levels().asks == ["1@101"])
        h.expectConsistent()
    }

    @Test func immediateOrCancelRemainderIsCancelled() throws {
        var h = Harness()
        try h.accept("a_alice", .sell, "1", at: "100")
        try h.accept("a_alice", .sell, "1", at: "103")
        let outcome = try h.accept("a_bob", .buy, "3", at: "101", tif: .ioc)
        #expect(outcome.trades.map(\.qty) == [d("1")])
        #expect(outcome.order.status == .cancelled)
        #expect(outcome.order.cancelReason == .immediateOrCancelRemainder)
        #expect(outcome.order.filledQty == d("1"))
        #expect(h.levels().bids.isEmpty)
        #expect(h.levels().asks == ["1@103"])
        #expect(h.engine.openOrders(accountID: "a_bob").isEmpty)
        // Nothing stays held.
        #expect(h.balance("a_bob", "USD").available == h.balance("a_bob", "USD").total)
        h.expectConsistent()
    }

    @Test func postOnlyThatWouldCrossIsCancelledNotRested() throws {
        var h = Harness()
        try h.accept("a_alice", .sell, "1", at: "100")
        let crossing = try h.accept("a_bob", .buy, "1", at: "100", tif: .postOnly)
        #expect(crossing.order.status == .cancelled)
        #expect(crossing.order.cancelReason == .postOnlyWouldCross)
        #expect(crossing.trades.isEmpty)
        #expect(crossing.events.map(\.kind) == ["order"])
        #expect(h.levels().bids.isEmpty)
        #expect(h.levels().asks == ["1@100"])

        let resting = try h.accept("a_bob", .buy, "1", at: "99", tif: .postOnly)
        #expect(resting.order.status == .open)
        #expect(h.levels().bids == ["1@99"])
        h.expectConsistent()
    }

    @Test func marketOrderWithoutLiquidityIsCancelled() throws {
        var h = Harness()
        let outcome = try h.accept("a_alice", .buy, "1", at: nil)
        #expect(outcome.order.status == .cancelled)
        #expect(outcome.order.cancelReason == .noLiquidity)
        #expect(outcome.trades.isEmpty)
        #expect(!outcome.events.contains { $0.isBookDelta })
        #expect(h.balance("a_alice", "USD").available == h.balance("a_alice", "USD").total)

        let sell = try h.accept("a_alice", .sell, "1", at: nil)
        #expect(sell.order.cancelReason == .noLiquidity)
        h.expectConsistent()
    }

    @Test func marketOrderTakesWhatIsThereAndCancelsTheRest() throws {
        var h = Harness()
        try h.accept("a_alice", .sell, "1", at: "100")
        try h.accept("a_alice", .sell, "1", at: "105")
        let outcome = try h.accept("a_bob", .buy, "3", at: nil)
        #expect(outcome.trades.map(\.price) == [d("100"), d("105")])
        #expect(outcome.order.status == .cancelled)
        #expect(outcome.order.cancelReason == .noLiquidity)
        #expect(outcome.order.filledQty == d("2"))
        #expect(outcome.order.price == nil)
        #expect(h.balance("a_bob", "USD").available == h.balance("a_bob", "USD").total)
        h.expectConsistent()
    }

    @Test func marketOrderStopsAtTheCollar() throws {
        var h = Harness()
        // An ask inside the collar around 100, then a trade at 95 moves the reference: the
        // collar becomes 85.5…104.5 and the ask at 108 is out of a market order's reach.
        try h.accept("a_alice", .sell, "1", at: "108")
        try h.accept("a_alice", .sell, "1", at: "95")
        try h.accept("a_bob", .buy, "1", at: "95")
        #expect(h.engine.referencePrice("BTC-USD") == d("95"))
        let outcome = try h.accept("a_bob", .buy, "1", at: nil)
        #expect(outcome.trades.isEmpty)
        #expect(outcome.order.cancelReason == .marketCollar)
        #expect(h.levels().asks == ["1@108"])
        h.expectConsistent()
    }

    @Test func selfTradePreventionCancelsTheRestingOrder() throws {
        var h = Harness()
        let own = try h.accept("a_alice", .sell, "1", at: "100")
        let other = try h.accept("a_bob", .sell, "1", at: "101")
        let outcome = try h.accept("a_alice", .buy, "2", at: "101")

        #expect(outcome.trades.count == 1)
        #expect(outcome.trades.first?.makerOrderID == other.order.orderID)
        let cancelled = try #require(h.engine.order(accountID: "a_alice", orderID: own.order.orderID))
        #expect(cancelled.status == .cancelled)
        #expect(cancelled.cancelReason == .selfTradePrevention)
        #expect(outcome.events.compactMap(\.order).map(\.orderID) == [own.order.orderID, other.order.orderID, outcome.order.orderID])
        // The incoming order continued and rests its remainder.
        #expect(outcome.order.status == .partiallyFilled)
        #expect(h.levels().bids == ["1@101"])
        #expect(h.levels().asks.isEmpty)
        // The cancelled sell's BTC hold was released.
        #expect(h.balance("a_alice", "BTC").available == h.balance("a_alice", "BTC").total)
        h.expectConsistent()
    }

    @Test func idempotentClientOrderIDReturnsTheOriginal() throws {
        var h = Harness()
        let first = try #require(try? h.place("a_alice", .buy, "1", at: "99", clientOrderID: "same").get())
        let seq = h.engine.snapshot(instrument: "BTC-USD")!.seq
        let balances = h.engine.balances(accountID: "a_alice")

        // Different parameters, same client order id: the original, unchanged, no events.
        let repeated = try #require(try? h.place("a_alice", .sell, "5", at: "101", clientOrderID: "same").get())
        #expect(repeated.duplicate)
        #expect(!first.duplicate)
        #expect(repeated.order == first.order)
        #expect(repeated.events.isEmpty)
        #expect(repeated.trades.isEmpty)
        #expect(h.engine.snapshot(instrument: "BTC-USD")!.seq == seq)
        #expect(h.engine.balances(accountID: "a_alice") == balances)
        #expect(h.levels().asks.isEmpty)

        // Another account may use the same client order id.
        let other = try #require(try? h.place("a_bob", .buy, "1", at: "98", clientOrderID: "same").get())
        #expect(!other.duplicate)
        #expect(other.order.orderID != first.order.orderID)

        // A rejected request is not stored: its client order id can be used again.
        #expect(h.rejection("a_carol", .buy, "1", at: "100.5") != nil)
        #expect(h.engine.order(accountID: "a_carol", clientOrderID: "c1") == nil)
        let retry = try #require(try? h.place("a_carol", .buy, "1", at: "97", clientOrderID: "retry").get())
        #expect(!retry.duplicate)

        // Still a duplicate after the original finished.
        _ = h.engine.cancel(accountID: "a_alice", orderID: first.order.orderID, nowMs: 5000)
        let afterCancel = try #require(try? h.place("a_alice", .buy, "1", at: "99", clientOrderID: "same").get())
        #expect(afterCancel.duplicate && afterCancel.order.status == .cancelled)
    }

    @Test func bookSequenceAdvancesOncePerBookChange() throws {
        var h = Harness()
        var replica = BookReplica(instrument: "BTC-USD")
        func feed(_ events: [EngineEvent]) {
            #expect(replica.apply(events) == nil)
            #expect(replica.snapshot == h.engine.snapshot(instrument: "BTC-USD")!)
        }
        feed(try h.accept("a_alice", .sell, "1", at: "101").events)
        #expect(replica.seq == 1)
        feed(try h.accept("a_alice", .sell, "1", at: "101").events)
        feed(try h.accept("a_bob", .buy, "1", at: "90").events)
        feed(try h.accept("a_bob", .buy, "1.5", at: "101").events)
        feed(try h.accept("a_carol", .buy, "1", at: "101", tif: .fok).events)  // not fillable: no delta
        #expect(replica.seq == 4)
        let open = h.engine.openOrders(accountID: "a_bob")
        feed(try h.engine.cancel(accountID: "a_bob", orderID: open[0].orderID, nowMs: 9000).get().events)
        #expect(replica.seq == 5)
        feed(try h.accept("a_bob", .buy, "1", at: "91").events)
        feed(try h.accept("a_bob", .buy, "1", at: "92").events)
        // Cancel-all: one delta for both levels.
        let (cancelled, events) = h.engine.cancelAll(accountID: "a_bob", instrument: nil, nowMs: 9001)
        #expect(cancelled.count == 2)
        #expect(events.filter(\.isBookDelta).count == 1)
        feed(events)
        #expect(replica.seq == 8)
        // Nothing to cancel: no delta, the sequence stays.
        feed(h.engine.cancelAll(accountID: "a_bob", instrument: nil, nowMs: 9002).1)
        #expect(replica.seq == 8)
    }

    @Test func snapshotDepthAndOrdering() throws {
        var h = Harness()
        for price in ["95", "97", "96"] { try h.accept("a_alice", .buy, "1", at: price) }
        for price in ["105", "103", "104"] { try h.accept("a_bob", .sell, "1", at: price) }
        try h.accept("a_carol", .buy, "2", at: "97")
        let snapshot = try #require(h.engine.snapshot(instrument: "BTC-USD", depth: 2))
        #expect(snapshot.bids.map(\.price) == [d("97"), d("96")])
        #expect(snapshot.bids.first?.qty == d("3"))
        #expect(snapshot.asks.map(\.price) == [d("103"), d("104")])
        #expect(h.engine.snapshot(instrument: "BTC-USD", depth: 0)?.bids.isEmpty == true)
        #expect(h.engine.snapshot(instrument: "BTC-USD")?.bids.count == 3)
        #expect(h.engine.snapshot(instrument: "NOPE") == nil)
        let (bid, ask) = h.engine.bestBidAsk(instrument: "BTC-USD")
        #expect(bid == d("97") && ask == d("103"))
    }
}
