@testable import BulwarkCore
@testable import BulwarkVenue
import Testing

/// Cancel, cancel-all, amend and the account-scoped lookups.
@Suite struct OrderManagementTests {
    @Test func cancelReleasesTheHoldAndRemovesTheLevel() throws {
        var h = Harness()
        let usdBefore = h.balance("a_alice", "USD")
        let placed = try h.accept("a_alice", .buy, "2", at: "95")
        // 2 × 95 = 190, plus 0.2 % = 0.38.
        #expect(h.balance("a_alice", "USD").available == usdBefore.available - d("190.38"))

        let outcome = try h.engine.cancel(accountID: "a_alice", orderID: placed.order.orderID, nowMs: 5000).get()
        #expect(outcome.order.status == .cancelled)
        #expect(outcome.order.cancelReason == .user)
        #expect(outcome.order.updatedMs == 5000)
        #expect(outcome.events.map(\.kind) == ["order", "book", "balance"])
        #expect(h.balance("a_alice", "USD") == usdBefore)
        #expect(h.levels().bids.isEmpty)
        #expect(h.engine.openOrders(accountID: "a_alice").isEmpty)

        // Cancelling a final order: not found, reason order_closed.
        let again = h.engine.cancel(accountID: "a_alice", orderID: placed.order.orderID, nowMs: 5001)
        #expect(again.failureCode == .orderNotFound)
        if case .failure(let rejection) = again { #expect(rejection.reason == "order_closed") }
        h.expectConsistent()
    }

    @Test func anotherAccountCannotSeeOrCancelMyOrder() throws {
        var h = Harness()
        let mine = try h.accept("a_alice", .sell, "1", at: "105")
        let theirs = h.engine.cancel(accountID: "a_bob", orderID: mine.order.orderID, nowMs: 5000)
        #expect(theirs.failureCode == .orderNotFound)
        if case .failure(let rejection) = theirs { #expect(rejection.reason == nil) }  // same as unknown
        #expect(h.engine.cancel(accountID: "a_bob", orderID: "o_999", nowMs: 5000).failureCode == .orderNotFound)
        #expect(h.engine.cancel(accountID: "a_bob", clientOrderID: mine.order.clientOrderID, nowMs: 5000).failureCode == .orderNotFound)
        #expect(h.engine.order(accountID: "a_bob", orderID: mine.order.orderID) == nil)
        #expect(h.engine.order(accountID: "a_bob", clientOrderID: mine.order.clientOrderID) == nil)
        #expect(h.engine.amend(accountID: "a_bob", orderID: mine.order.orderID, newPrice: d("104"), newQty: nil, nowMs: 5000).failureCode == .orderNotFound)
        #expect(h.engine.cancelAll(accountID: "a_bob", instrument: nil, nowMs: 5000).0.isEmpty)
        // Still resting, untouched.
        #expect(h.engine.order(accountID: "a_alice", orderID: mine.order.orderID)?.status == .open)
        #expect(h.levels().asks == ["1@105"])
    }

    @Test func cancelByClientOrderID() throws {
        var h = Harness()
        let placed = try #require(try? h.place("a_alice", .buy, "1", at: "95", clientOrderID: "mine-1").get())
        #expect(h.engine.order(accountID: "a_alice", clientOrderID: "mine-1") == placed.order)
        let outcome = try h.engine.cancel(accountID: "a_alice", clientOrderID: "mine-1", nowMs: 5000).get()
        #expect(outcome.order.orderID == placed.order.orderID)
        #expect(h.engine.cancel(accountID: "a_alice", clientOrderID: "nope", nowMs: 5000).failureCode == .orderNotFound)
    }

    @Test func cancelAllByInstrumentAndEverywhere() throws {
        var h = Harness()
        try h.accept("a_alice", .buy, "1", at: "95")
        try h.accept("a_alice", .buy, "1", at: "94")
        try h.accept("a_alice", .sell, "1", at: "105")
        try h.accept("a_alice", .buy, "1", at: "45", instrument: "ETH-USD")
        try h.accept("a_alice", .buy, "0.01", at: "990", instrument: "BTC-PERP")
        let bobs = try h.accept("a_bob", .buy, "1", at: "95")

        let (ethOnly, ethEvents) = h.engine.cancelAll(accountID: "a_alice", instrument: "ETH-USD", nowMs: 5000)
        #expect(ethOnly.count == 1 && ethOnly.allSatisfy { $0.instrument == "ETH-USD" && $0.cancelReason == .cancelAll })
        #expect(ethEvents.map(\.kind) == ["order", "book", "balance"])

        let (all, events) = h.engine.cancelAll(accountID: "a_alice", instrument: nil, reason: .killSwitch, nowMs: 5001)
        #expect(all.count == 4)
        #expect(all.allSatisfy { $0.status == .cancelled && $0.cancelReason == .killSwitch })
        #expect(events.map(\.kind) == ["order", "order", "order", "order", "book", "book", "balance", "balance"])
        #expect(h.engine.openOrders(accountID: "a_alice").isEmpty)
        #expect(h.balance("a_alice", "USD").available == h.balance("a_alice", "USD").total)
        #expect(h.balance("a_alice", "BTC").available == h.balance("a_alice", "BTC").total)
        // Another account's order stays.
        #expect(h.engine.openOrders(accountID: "a_bob").map(\.orderID) == [bobs.order.orderID])
        #expect(h.levels().bids == ["1@95"])
        #expect(h.engine.cancelAll(accountID: "a_alice", instrument: nil, nowMs: 5002).1.isEmpty)
        h.expectConsistent()
    }

    @Test func openOrdersAreOldestFirst() throws {
        var h = Harness()
        var ids: [String] = []
        for i in 0..<12 { ids.append(try h.accept("a_alice", .buy, "1", at: "\(90 + i % 5)").order.orderID) }
        #expect(h.engine.openOrders(accountID: "a_alice").map(\.orderID) == ids)
    }

    @Test func amendSizeDownKeepsPriority() throws {
        var h = Harness()
        let first = try h.accept("a_alice", .sell, "3", at: "100")
        let second = try h.accept("a_bob", .sell, "1", at: "100")
        let btcBefore = h.balance("a_alice", "BTC")

        let amended = try h.engine.amend(accountID: "a_alice", orderID: first.order.orderID, newPrice: nil, newQty: d("2"), nowMs: 5000).get()
        #expect(amended.order.qty == d("2"))
        #expect(amended.order.updatedMs == 5000)
        #expect(amended.events.map(\.kind) == ["order", "book", "balance"])
        #expect(h.levels().asks == ["3@100"])
        #expect(h.balance("a_alice", "BTC").available == btcBefore.available + d("1"))

        let taker = try h.accept("a_carol", .buy, "1", at: "100")
        #expect(taker.trades.first?.makerOrderID == first.order.orderID)
        _ = second
        h.expectConsistent()
    }

    @Test func amendSizeUpOrPriceChangeLosesPriority() throws {
        var h = Harness()
        let first = try h.accept("a_alice", .sell, "1", at: "100")
        let second = try h.accept("a_bob", .sell, "1", at: "100")
        _ = try h.engine.amend(accountID: "a_alice", orderID: first.order.orderID, newPrice: nil, newQty: d("2"), nowMs: 5000).get()
        #expect(h.levels().asks == ["3@100"])
        let taker = try h.accept("a_carol", .buy, "1", at: "100")
        #expect(taker.trades.first?.makerOrderID == second.order.orderID)

        // Price change: moves to the new level, at its back.
        let third = try h.accept("a_bob", .sell, "1", at: "101")
        let moved = try h.engine.amend(accountID: "a_alice", orderID: first.order.orderID, newPrice: d("101"), newQty: nil, nowMs: 5001).get()
        #expect(moved.order.price == d("101"))
        #expect(h.levels().asks == ["3@101"])
        let deltaChanges = moved.events.compactMap { event -> [BookLevelChange]? in
            if case .bookDelta(_, _, let changes) = event { changes } else { nil }
        }
        #expect(deltaChanges == [[
            BookLevelChange(side: .sell, price: d("100"), qty: .zero), BookLevelChange(side: .sell, price: d("101"), qty: d("3")),
        ]])
        let next = try h.accept("a_carol", .buy, "1", at: "101")
        #expect(next.trades.first?.makerOrderID == third.order.orderID)
        h.expectConsistent()
    }

    @Test func amendRules() throws {
        var h = Harness(funded: ["a_alice", "a_bob"])
        _ = h.engine.deposit(accountID: "a_poor", asset: "USD", amount: d("200"))
        try h.accept("a_bob", .sell, "1", at: "100")
        let bid = try h.accept("a_alice", .buy, "2", at: "95")
        let id = bid.order.orderID
        func amend(_ price: String?, _ qty: String?, account: String = "a_alice", order: String? = nil) -> OrderRejection? {
            if case .failure(let r) = h.engine.amend(accountID: account, orderID: order ?? id, newPrice: price.map(d), newQty: qty.map(d), nowMs: 6000) { r } else { nil }
        }
        #expect(amend(nil, nil)?.code == .invalidParams)
        #expect(amend("100", nil)?.reason == "would_cross")
        #expect(amend("95.5", nil)?.code == .priceNotOnTick)
        #expect(amend("80", nil)?.code == .priceOutOfBand)
        #expect(amend(nil, "0.015")?.code == .qtyNotOnLot)
        #expect(amend(nil, "600")?.reason == "max_order_notional")
        #expect(amend("95", "2") == nil)  // unchanged: nothing happens
        #expect(h.engine.amend(accountID: "a_alice", orderID: id, newPrice: d("95"), newQty: d("2"), nowMs: 6000).events?.isEmpty == true)

        // Partly filled: the new total must exceed what is filled.
        try h.accept("a_bob", .sell, "1.5", at: "95")
        #expect(h.engine.order(accountID: "a_alice", orderID: id)?.filledQty == d("1.5"))
        #expect(amend(nil, "1.5")?.reason == "not_above_filled_qty")
        let shrunk = try h.engine.amend(accountID: "a_alice", orderID: id, newPrice: nil, newQty: d("1.6"), nowMs: 6001).get()
        #expect(shrunk.order.remainingQty == d("0.1"))
        #expect(shrunk.order.status == .partiallyFilled)

        // A bigger hold must be affordable: 2 × 99 × 1.002 = 198.396 ≤ 200; then 3 × 99 is not.
        let poor = try h.accept("a_poor", .buy, "1", at: "90")
        #expect(amend(nil, "2", account: "a_poor", order: poor.order.orderID) == nil)
        #expect(amend("99", nil, account: "a_poor", order: poor.order.orderID) == nil)
        #expect(h.balance("a_poor", "USD").available == d("1.604"))
        #expect(amend(nil, "3", account: "a_poor", order: poor.order.orderID)?.reason == "insufficient_balance")

        // Final orders cannot be amended.
        _ = h.engine.cancel(accountID: "a_alice", orderID: id, nowMs: 6002)
        #expect(amend("94", nil)?.reason == "order_closed")
        h.expectConsistent()
    }
}

extension Result where Success == OrderOutcome {
    var events: [EngineEvent]? { try? get().events }
}
