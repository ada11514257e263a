@testable import BulwarkCore
@testable import BulwarkVenue
import Testing

/// Every pre-trade control refuses with its exact code, and a refusal changes nothing.
@Suite struct PreTradeControlTests {
    @Test func unknownInstrument() {
        var h = Harness()
        let r = h.rejection("a_alice", .buy, "1", at: "100", instrument: "DOGE-USD")
        #expect(r?.code == .unknownInstrument)
        #expect(r?.field == "params.instrument")
    }

    @Test func haltedInstrument() throws {
        var h = Harness()
        let resting = try h.accept("a_alice", .buy, "1", at: "99")
        let halted = h.engine.setStatus(.halted, of: "BTC-USD")
        let unknown = h.engine.setStatus(.halted, of: "NOPE")
        #expect(halted && !unknown)
        #expect(h.engine.instrument("BTC-USD")?.status == .halted)
        #expect(h.engine.listInstruments.first { $0.symbol == "BTC-USD" }?.status == .halted)
        #expect(h.rejection("a_bob", .sell, "1", at: "99")?.code == .tradingHalted)
        #expect(h.rejection("a_bob", .sell, "1", at: nil)?.code == .tradingHalted)
        // Cancels still work while halted; amends do not.
        let amend = h.engine.amend(accountID: "a_alice", orderID: resting.order.orderID, newPrice: d("98"), newQty: nil, nowMs: 5000)
        #expect(amend.failureCode == .tradingHalted)
        #expect(h.engine.cancel(accountID: "a_alice", orderID: resting.order.orderID, nowMs: 5001).failureCode == nil)
        h.engine.setStatus(.trading, of: "BTC-USD")
        #expect(h.rejection("a_bob", .sell, "1", at: "99") == nil)
    }

    @Test(arguments: [
        ("0", "not_positive"), ("-1", "not_positive"), ("0.015", "not_on_lot"), ("1.001", "not_on_lot"),
        ("0.04", "below_min_qty"), ("1000.01", "above_max_qty"),
    ])
    func quantityNotOnLotOrOutOfRange(qty: String, reason: String) {
        var h = Harness()
        let r = h.rejection("a_alice", .buy, qty, at: "100")
        #expect(r?.code == .qtyNotOnLot)
        #expect(r?.field == "params.qty")
        #expect(r?.reason == reason)
    }

    @Test func quantityBoundsAreInclusive() {
        var h = Harness()
        #expect(h.rejection("a_alice", .buy, "0.05", at: "100") == nil)
        #expect(h.rejection("a_alice", .sell, "400", at: "110") == nil)  // notional 44000 ≤ 50000
    }

    @Test func limitPriceMissingOrNotPositive() {
        var h = Harness()
        for price in [nil, "0", "-5"] as [String?] {
            let r = h.rejection("a_alice", .buy, "1", at: price, type: .limit)
            #expect(r?.code == .invalidParams, "\(String(describing: price))")
            #expect(r?.field == "params.price")
        }
    }

    @Test func marketOrderShapeRules() {
        var h = Harness()
        let withPrice = h.rejection("a_alice", .buy, "1", at: "100", type: .market)
        #expect(withPrice?.code == .invalidParams)
        #expect(withPrice?.field == "params.price")
        let postOnly = h.rejection("a_alice", .buy, "1", at: nil, type: .market, tif: .postOnly)
        #expect(postOnly?.code == .invalidParams)
        #expect(postOnly?.field == "params.tif")
        #expect(h.rejection("a_alice", .buy, "1", at: nil, type: .market, tif: .gtc)?.code == .invalidParams)
        // Without a collar there is no bound for a market order.
        let uncollared = h.rejection("a_alice", .buy, "1", at: nil, type: .market, instrument: "NOC-USD")
        #expect(uncollared?.code == .invalidParams)
        #expect(uncollared?.reason == "market_orders_need_a_collar")
    }

    @Test func priceNotOnTick() {
        var h = Harness()
        let r = h.rejection("a_alice", .buy, "1", at: "100.5")
        #expect(r?.code == .priceNotOnTick)
        #expect(r?.field == "params.price")
        #expect(h.rejection("a_alice", .buy, "1", at: "0.000000000000000001")?.code == .priceNotOnTick)
    }

    @Test func priceOutsideTheCollar() throws {
        var h = Harness()
        // Reference 100, collar 10 %: 90…110 inclusive.
        #expect(h.rejection("a_alice", .buy, "1", at: "111")?.code == .priceOutOfBand)
        #expect(h.rejection("a_alice", .sell, "1", at: "89")?.code == .priceOutOfBand)
        #expect(h.rejection("a_alice", .buy, "1", at: "90") == nil)
        #expect(h.rejection("a_bob", .sell, "1", at: "110") == nil)
        // The band follows the last trade price.
        try h.accept("a_carol", .sell, "1", at: "90")
        #expect(h.engine.referencePrice("BTC-USD") == d("90"))
        #expect(h.rejection("a_alice", .sell, "1", at: "100")?.code == .priceOutOfBand)  // 81…99
        #expect(h.rejection("a_alice", .buy, "1", at: "81") == nil)
        // No collar: any price on tick.
        #expect(h.rejection("a_alice", .buy, "1", at: "1", instrument: "NOC-USD") == nil)
    }

    @Test func notionalAboveTheCaps() {
        var h = Harness()
        // 500 × 101 = 50500 > 50000.
        let r = h.rejection("a_alice", .buy, "500", at: "101")
        #expect(r?.code == .riskLimit)
        #expect(r?.reason == "max_order_notional")
        #expect(h.rejection("a_alice", .buy, "500", at: "100") == nil)  // exactly the cap
        // Market buys are measured at the collar's upper bound: 460 × 110 = 50600.
        #expect(h.rejection("a_alice", .buy, "460", at: nil)?.reason == "max_order_notional")
        // The key's own cap.
        let key = h.rejection("a_alice", .buy, "10", at: "100", maxNotional: "999")
        #expect(key?.code == .riskLimit)
        #expect(key?.reason == "max_order_notional")
        #expect(h.rejection("a_alice", .buy, "10", at: "100", maxNotional: "1000") == nil)
    }

    @Test func deadlinePassed() {
        var h = Harness()
        let now = h.nowMs + 1  // the harness advances the clock by one per request
        let r = h.rejection("a_alice", .buy, "1", at: "100", deadlineMs: now - 1)
        #expect(r?.code == .deadlineExceeded)
        #expect(r?.field == "params.deadline_ms")
        #expect(h.rejection("a_alice", .buy, "1", at: "100", deadlineMs: h.nowMs + 1) == nil)  // == now is still in time
    }

    @Test func insufficientBalance() throws {
        var h = Harness(funded: [])
        _ = h.engine.deposit(accountID: "a_poor", asset: "USD", amount: d("100"))
        _ = h.engine.deposit(accountID: "a_poor", asset: "BTC", amount: d("0.5"))
        // 1 × 99 = 99 plus 0.2 % (the higher fee rate) = 99.198 ≤ 100; 1 × 100 → 100.2 > 100.
        let r = h.rejection("a_poor", .buy, "1", at: "100")
        #expect(r?.code == .riskLimit)
        #expect(r?.reason == "insufficient_balance")
        #expect(h.rejection("a_poor", .buy, "1", at: "99") == nil)
        // The first order's hold leaves 0.802 available.
        #expect(h.balance("a_poor", "USD").available == d("0.802"))
        #expect(h.rejection("a_poor", .buy, "0.05", at: "90")?.reason == "insufficient_balance")
        // Sells need the base asset.
        #expect(h.rejection("a_poor", .sell, "0.51", at: "101")?.reason == "insufficient_balance")
        #expect(h.rejection("a_poor", .sell, "0.5", at: "101") == nil)
        // Market buys are held at the collar's upper bound: 1 × 110 × 1.002 with 0 available.
        #expect(h.rejection("a_poor", .buy, "1", at: nil)?.reason == "insufficient_balance")
        // Derivatives: the fee (perpetual) or premium + fee (option buyer) must be covered in USD.
        #expect(h.rejection("a_broke", .buy, "0.01", at: "1000", instrument: "BTC-PERP")?.reason == "insufficient_balance")
        #expect(h.rejection("a_broke", .buy, "0.01", at: "200", instrument: "BTC-20261225-100000-C")?.reason == "insufficient_balance")
        // An option seller holds nothing (no margin model yet).
        #expect(h.rejection("a_broke", .sell, "0.01", at: "200", instrument: "BTC-20261225-100000-C") == nil)
    }

    @Test func refusalsStoreAndChangeNothing() {
        var h = Harness()
        let balances = h.engine.balances(accountID: "a_alice")
        #expect(h.rejection("a_alice", .buy, "1", at: "111") != nil)
        #expect(h.rejection("a_alice", .buy, "0.001", at: "100") != nil)
        #expect(h.engine.balances(accountID: "a_alice") == balances)
        #expect(h.engine.openOrders(accountID: "a_alice").isEmpty)
        #expect(h.engine.snapshot(instrument: "BTC-USD")?.seq == 0)
        // No order id was consumed.
        let accepted = try? h.place("a_alice", .buy, "1", at: "100").get()
        #expect(accepted?.order.orderID == "o_1")
    }
}

extension Result {
    var failureCode: ErrorCode? {
        if case .failure(let error) = self { (error as? OrderRejection)?.code } else { nil }
    }
}
