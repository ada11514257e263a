@testable import BulwarkCore
@testable import BulwarkVenue
import Testing

/// The demo market a fresh gateway serves: its ladder must rest without crossing and a demo-sized
/// market order must fill against it.
@Suite struct DemoMarketTests {
    @Test func houseLadderRestsWithoutCrossingAndConservesAssets() throws {
        var engine = MatchingEngine(instruments: DemoMarket.instruments)
        for (asset, amount) in DemoMarket.houseFunding {
            _ = engine.deposit(accountID: "a_house", asset: asset, amount: FixedDecimal(parsing: amount)!)
        }
        for request in DemoMarket.houseLadder(accountID: "a_house", instruments: engine.listInstruments) {
            let outcome = try engine.place(request, nowMs: 1).get()
            #expect(outcome.order.status == .open, "\(request.clientOrderID)")
        }
        for instrument in DemoMarket.instruments {
            let (bid, ask) = engine.bestBidAsk(instrument: instrument.symbol)
            let best = try #require(bid)
            #expect(best < (try #require(ask)), "\(instrument.symbol)")
            #expect(engine.snapshot(instrument: instrument.symbol)?.bids.count == 5)
        }
        for (asset, amount) in DemoMarket.houseFunding {
            #expect(engine.totalBalance(of: asset) == FixedDecimal(parsing: amount)!)
        }
    }

    @Test func walkthroughSizedMarketBuyFillsAtTheBestAsk() throws {
        var engine = MatchingEngine(instruments: DemoMarket.instruments)
        for (asset, amount) in DemoMarket.houseFunding {
            _ = engine.deposit(accountID: "a_house", asset: asset, amount: FixedDecimal(parsing: amount)!)
        }
        _ = engine.deposit(accountID: "a_demo", asset: "USD", amount: FixedDecimal(parsing: "100000")!)
        for request in DemoMarket.houseLadder(accountID: "a_house", instruments: engine.listInstruments) {
            _ = engine.place(request, nowMs: 1)
        }
        let outcome = try engine.place(
            OrderRequest(
                accountID: "a_demo", instrument: "BTC-USD", side: .buy, type: .market, qty: FixedDecimal(parsing: "0.01")!,
                price: nil, timeInForce: .ioc, clientOrderID: "w1"), nowMs: 2
        ).get()
        #expect(outcome.order.status == .filled)
        #expect(outcome.order.averagePrice == FixedDecimal(parsing: "60060"))
        // 0.01 × 60060 = 600.6 USD plus the 0.05 % taker fee (0.3003): nothing stays held.
        let usd = engine.balances(accountID: "a_demo").first { $0.asset == "USD" }
        #expect(usd?.total.description == "99399.0997")
        #expect(usd?.available == usd?.total)
        #expect(engine.totalBalance(of: "USD") == FixedDecimal(parsing: "100100000")!)
    }
}
