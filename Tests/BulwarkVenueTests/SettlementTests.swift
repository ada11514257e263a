@testable import BulwarkCore
@testable import BulwarkVenue
import Testing

/// Holds, settlement, fees, positions and conservation of every asset.
@Suite struct SettlementTests {
    private let fees = MatchingEngine.feeAccountID

    @Test func spotTradeMovesBothAssetsAndFeesExactly() throws {
        var h = Harness()
        let usd = h.engine.totalBalance(of: "USD")
        let btc = h.engine.totalBalance(of: "BTC")
        try h.accept("a_alice", .sell, "2", at: "100")
        let outcome = try h.accept("a_bob", .buy, "2", at: "100")
        let trade = try #require(outcome.trades.first)
        #expect(trade.makerFee == d("0.2"))  // 200 × 0.1 %
        #expect(trade.takerFee == d("0.4"))  // 200 × 0.2 %
        #expect(trade.makerAccountID == "a_alice" && trade.takerAccountID == "a_bob")

        #expect(h.balance("a_bob", "USD") == Balance(asset: "USD", total: d("999799.6"), available: d("999799.6")))
        #expect(h.balance("a_bob", "BTC") == Balance(asset: "BTC", total: d("1002"), available: d("1002")))
        #expect(h.balance("a_alice", "USD") == Balance(asset: "USD", total: d("1000199.8"), available: d("1000199.8")))
        #expect(h.balance("a_alice", "BTC") == Balance(asset: "BTC", total: d("998"), available: d("998")))
        #expect(h.balance(fees, "USD").total == d("0.6"))
        #expect(h.engine.totalBalance(of: "USD") == usd)
        #expect(h.engine.totalBalance(of: "BTC") == btc)
        h.expectConsistent()
    }

    @Test func restingOrdersHoldAndCancelReleases() throws {
        var h = Harness()
        let sell = try h.accept("a_alice", .sell, "3", at: "105")
        #expect(h.balance("a_alice", "BTC") == Balance(asset: "BTC", total: d("1000"), available: d("997")))
        let buy = try h.accept("a_alice", .buy, "4", at: "100")
        // 4 × 100 = 400 plus the higher fee rate (0.2 %) = 400.8.
        #expect(h.balance("a_alice", "USD") == Balance(asset: "USD", total: d("1000000"), available: d("999599.2")))

        _ = try h.engine.cancel(accountID: "a_alice", orderID: sell.order.orderID, nowMs: 5000).get()
        _ = try h.engine.cancel(accountID: "a_alice", orderID: buy.order.orderID, nowMs: 5001).get()
        #expect(h.balance("a_alice", "BTC") == Balance(asset: "BTC", total: d("1000"), available: d("1000")))
        #expect(h.balance("a_alice", "USD") == Balance(asset: "USD", total: d("1000000"), available: d("1000000")))
        h.expectConsistent()
    }

    @Test func holdsShrinkWithPartialFills() throws {
        var h = Harness()
        try h.accept("a_alice", .buy, "4", at: "100")
        try h.accept("a_bob", .sell, "1", at: "100")
        // Paid 100 + 0.1 maker fee; the remaining 3 hold 300.6.
        let usd = h.balance("a_alice", "USD")
        #expect(usd.total == d("999899.9"))
        #expect(usd.total - usd.available == d("300.6"))
        h.expectConsistent()
    }

    @Test func priceImprovementIsReleased() throws {
        var h = Harness()
        try h.accept("a_bob", .sell, "1", at: "95")
        let outcome = try h.accept("a_alice", .buy, "1", at: "105")
        #expect(outcome.trades.first?.price == d("95"))
        // 95 + 0.19 taker fee; the hold was 105.21 and nothing stays held.
        #expect(h.balance("a_alice", "USD") == Balance(asset: "USD", total: d("999904.81"), available: d("999904.81")))
    }

    @Test func marketBuyHoldsTheCollarBoundAndReleasesTheRest() throws {
        var h = Harness(funded: ["a_bob"])
        // Exactly 1 × 110 (upper collar bound) × 1.002.
        _ = h.engine.deposit(accountID: "a_exact", asset: "USD", amount: d("110.22"))
        try h.accept("a_bob", .sell, "1", at: "100")
        let outcome = try h.accept("a_exact", .buy, "1", at: nil)
        #expect(outcome.order.status == .filled)
        #expect(h.balance("a_exact", "USD") == Balance(asset: "USD", total: d("10.02"), available: d("10.02")))
        #expect(h.balance("a_exact", "BTC").total == d("1"))
        // Below the bound's need: refused before anything happens.
        _ = h.engine.deposit(accountID: "a_short", asset: "USD", amount: d("110.21"))
        #expect(h.rejection("a_short", .buy, "1", at: nil)?.reason == "insufficient_balance")
    }

    @Test func perpetualFillsChangePositionsAndChargeFeesOnly() throws {
        var h = Harness()
        let usd = h.engine.totalBalance(of: "USD")
        try h.accept("a_alice", .sell, "0.1", at: "1000", instrument: "BTC-PERP")
        // The perpetual maker holds only its worst-case fee: 100 × 0.04 %.
        #expect(h.balance("a_alice", "USD").available == d("999999.96"))
        let outcome = try h.accept("a_bob", .buy, "0.1", at: "1000", instrument: "BTC-PERP")
        #expect(outcome.trades.first?.makerFee == d("0.01"))
        #expect(outcome.trades.first?.takerFee == d("0.04"))
        #expect(h.position("a_alice", "BTC-PERP") == d("-0.1"))
        #expect(h.position("a_bob", "BTC-PERP") == d("0.1"))
        #expect(h.balance("a_alice", "USD") == Balance(asset: "USD", total: d("999999.99"), available: d("999999.99")))
        #expect(h.balance("a_bob", "USD") == Balance(asset: "USD", total: d("999999.96"), available: d("999999.96")))
        #expect(h.balance("a_alice", "BTC").total == d("1000"))  // nothing delivered
        #expect(h.engine.totalBalance(of: "USD") == usd)
        let positionEvents = outcome.events.compactMap { event -> String? in
            if case .positionUpdate(let account, let position) = event { "\(account):\(position.qty)" } else { nil }
        }
        #expect(positionEvents == ["a_bob:0.1", "a_alice:-0.1"])
        #expect(outcome.events.last?.kind == "position")

        // Closing the position brings it back to zero (and it is still listed).
        try h.accept("a_alice", .buy, "0.1", at: "1000", instrument: "BTC-PERP")
        try h.accept("a_bob", .sell, "0.1", at: "1000", instrument: "BTC-PERP")
        #expect(h.engine.positions(accountID: "a_bob") == [Position(instrument: "BTC-PERP", qty: .zero)])
        h.expectConsistent()
    }

    @Test func perpetualSellerTakingAHigherBidIsCoveredByItsHold() throws {
        var h = Harness(funded: ["a_bob"])
        try h.accept("a_bob", .buy, "0.1", at: "1040", instrument: "BTC-PERP")
        // Selling at a limit of 1000 trades at the bid of 1040: the fee is 104 × 0.04 % = 0.0416,
        // more than the 0.04 the limit price alone would suggest. The hold covers the best bid.
        _ = h.engine.deposit(accountID: "a_thin", asset: "USD", amount: d("0.04"))
        #expect(h.rejection("a_thin", .sell, "0.1", at: "1000", instrument: "BTC-PERP")?.reason == "insufficient_balance")
        _ = h.engine.deposit(accountID: "a_thin", asset: "USD", amount: d("0.0016"))
        let outcome = try h.accept("a_thin", .sell, "0.1", at: "1000", instrument: "BTC-PERP")
        #expect(outcome.trades.first?.price == d("1040"))
        #expect(outcome.trades.first?.takerFee == d("0.0416"))
        #expect(h.balance("a_thin", "USD") == Balance(asset: "USD", total: .zero, available: .zero))
        #expect(h.position("a_thin", "BTC-PERP") == d("-0.1"))
        h.expectConsistent()
    }

    @Test func optionBuyerPaysThePremiumToTheSeller() throws {
        var h = Harness()
        let symbol = "BTC-20261225-100000-C"
        let usd = h.engine.totalBalance(of: "USD")
        _ = h.engine.deposit(accountID: "a_writer", asset: "BTC", amount: d("1"))  // no USD at all
        try h.accept("a_writer", .sell, "0.5", at: "200", instrument: symbol)
        let outcome = try h.accept("a_bob", .buy, "0.5", at: "200", instrument: symbol)
        // Premium 100; fees 0.03 each.
        #expect(outcome.trades.first?.makerFee == d("0.03"))
        #expect(h.balance("a_writer", "USD").total == d("99.97"))
        #expect(h.balance("a_bob", "USD").total == d("999899.97"))
        #expect(h.position("a_writer", symbol) == d("-0.5"))
        #expect(h.position("a_bob", symbol) == d("0.5"))
        #expect(h.balance(fees, "USD").total == d("0.06"))
        #expect(h.engine.totalBalance(of: "USD") == usd)
        h.expectConsistent()
    }

    @Test func depositsAreTheOnlyWayTotalsChange() {
        var h = Harness(funded: [])
        #expect(h.engine.deposit(accountID: "a_x", asset: "USD", amount: d("0")).isEmpty)
        #expect(h.engine.deposit(accountID: "a_x", asset: "USD", amount: d("-1")).isEmpty)
        let events = h.engine.deposit(accountID: "a_x", asset: "USD", amount: d("12.5"))
        #expect(events == [.balanceUpdate(accountID: "a_x", Balance(asset: "USD", total: d("12.5"), available: d("12.5")))])
        #expect(h.engine.totalBalance(of: "USD") == d("12.5"))
    }
}
