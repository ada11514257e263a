@testable import BulwarkCore
@testable import BulwarkVenue
import Testing

@Suite struct AccountLimitTests {
    @Test func maxOpenOrdersCountsRestingOrdersOnly() throws {
        var h = Harness()
        h.engine.accountLimits = AccountLimits(maxOpenOrders: 2)
        try h.accept("a_alice", .buy, "1", at: "95")
        try h.accept("a_alice", .buy, "1", at: "96")
        #expect(h.rejection("a_alice", .buy, "1", at: "97")?.reason == "max_open_orders")
        #expect(h.rejection("a_alice", .buy, "1", at: "97")?.code == .riskLimit)
        // Orders that cannot rest are not counted against it, and other accounts have their own.
        try h.accept("a_bob", .sell, "0.5", at: "105")
        _ = try h.accept("a_alice", .buy, "0.5", at: "105", tif: .ioc)
        try h.accept("a_bob", .buy, "1", at: "95")
        // A cancel frees a slot.
        let open = h.engine.openOrders(accountID: "a_alice")
        _ = try h.engine.cancel(accountID: "a_alice", orderID: open[0].orderID, nowMs: h.nowMs).get()
        try h.accept("a_alice", .buy, "1", at: "97")
        h.expectConsistent()
    }

    @Test func maxOpenNotionalSumsRestingOrders() throws {
        var h = Harness()
        h.engine.accountLimits = AccountLimits(maxOpenNotional: d("1000"))
        try h.accept("a_alice", .buy, "5", at: "100")  // 500
        try h.accept("a_alice", .sell, "4", at: "110")  // 440 → 940
        #expect(h.rejection("a_alice", .buy, "1", at: "100")?.reason == "max_open_notional")  // 1040
        try h.accept("a_alice", .buy, "0.5", at: "100")  // 990
        // An amend that grows the exposure is checked too; one that shrinks it is not.
        let order = h.engine.openOrders(accountID: "a_alice")[0]
        #expect(h.engine.amend(accountID: "a_alice", orderID: order.orderID, newPrice: nil, newQty: d("6"), nowMs: h.nowMs).failureReason == "max_open_notional")
        _ = try h.engine.amend(accountID: "a_alice", orderID: order.orderID, newPrice: nil, newQty: d("1"), nowMs: h.nowMs).get()
    }

    @Test func positionLimitCountsThePositionAndSameSideOrders() throws {
        var perp = Fixtures.perp
        perp.maxPosition = d("1")
        var h = Harness()
        h.engine = MatchingEngine(instruments: [perp])
        for account in ["a_alice", "a_bob"] { _ = h.engine.deposit(accountID: account, asset: "USD", amount: d("1000000")) }
        // Bob sells 0.6 to Alice: Alice is long 0.6.
        try h.accept("a_bob", .sell, "0.6", at: "1000", instrument: "BTC-PERP")
        _ = try h.accept("a_alice", .buy, "0.6", at: "1000", tif: .ioc, instrument: "BTC-PERP")
        #expect(h.position("a_alice", "BTC-PERP") == d("0.6"))
        try h.accept("a_alice", .buy, "0.3", at: "990", instrument: "BTC-PERP")  // worst case 0.9
        #expect(h.rejection("a_alice", .buy, "0.2", at: "990", instrument: "BTC-PERP")?.reason == "position_limit")  // 1.1
        #expect(h.rejection("a_alice", .buy, "0.2", at: nil, instrument: "BTC-PERP")?.reason == "position_limit")  // market too
        // Selling reduces the position: allowed up to a short of 1 (0.6 - 1.6 = -1).
        try h.accept("a_alice", .sell, "1.6", at: "1040", instrument: "BTC-PERP")
        #expect(h.rejection("a_alice", .sell, "0.1", at: "1040", instrument: "BTC-PERP")?.reason == "position_limit")
        // Bob, short 0.6, may not go beyond -1 either.
        #expect(h.rejection("a_bob", .sell, "0.5", at: "1045", instrument: "BTC-PERP")?.reason == "position_limit")
        // Spot has no position limit.
        h.expectConsistent()
    }

    /// The limits read the account's resting orders without listing them: an amend counts every
    /// other resting order once and replaces its own exposure, and the open-order count does not
    /// apply to it.
    @Test func amendReplacesItsOwnExposureAmongManyRestingOrders() throws {
        var perp = Fixtures.perp
        perp.maxPosition = d("1")
        var h = Harness()
        h.engine = MatchingEngine(instruments: [Fixtures.spot, perp])
        _ = h.engine.deposit(accountID: "a_alice", asset: "USD", amount: d("1000000"))
        h.engine.accountLimits = AccountLimits(maxOpenOrders: 12, maxOpenNotional: d("100000"))
        // Ten spot bids of 1 at 100..109 (notional 1045) and two perp bids (0.5 and 0.4: 0.9 long if filled).
        for price in 100..<110 { try h.accept("a_alice", .buy, "1", at: "\(price)") }
        let perpFirst = try h.accept("a_alice", .buy, "0.5", at: "1000", instrument: "BTC-PERP").order
        try h.accept("a_alice", .buy, "0.4", at: "1000", instrument: "BTC-PERP")
        #expect(h.rejection("a_alice", .buy, "1", at: "99")?.reason == "max_open_orders")
        // At the count limit an amend still goes through; its own 0.5 is replaced: 0.4 + 0.6 = 1.
        _ = try h.engine.amend(accountID: "a_alice", orderID: perpFirst.orderID, newPrice: nil, newQty: d("0.6"), nowMs: h.nowMs).get()
        #expect(
            h.engine.amend(accountID: "a_alice", orderID: perpFirst.orderID, newPrice: nil, newQty: d("0.601"), nowMs: h.nowMs).failureReason
                == "position_limit")
        // Notional: 1045 spot + 1000 × (0.6 + 0.4) = 2045 now.
        h.engine.accountLimits.maxOpenNotional = d("2145")
        let spotFirst = h.engine.openOrders(accountID: "a_alice").first { $0.instrument == "BTC-USD" }!
        // 100 × 2 replaces 100 × 1: 2145, at the cap; 100 × 2.01 is over it.
        _ = try h.engine.amend(accountID: "a_alice", orderID: spotFirst.orderID, newPrice: nil, newQty: d("2"), nowMs: h.nowMs).get()
        #expect(
            h.engine.amend(accountID: "a_alice", orderID: spotFirst.orderID, newPrice: nil, newQty: d("2.01"), nowMs: h.nowMs).failureReason
                == "max_open_notional")
        h.expectConsistent()
    }
}

@Suite struct MarketDataViewTests {
    /// Random trading through a venue publishing the top `depth` levels: a client that applies the
    /// snapshot and then every published delta holds exactly the venue's top `depth` at each step.
    @Test(arguments: [1, 3])
    func depthLimitedDeltasReproduceTheTopOfTheBook(depth: Int) async throws {
        let sink = CapturingSink()
        let venue = BuiltinVenue(instruments: RandomTrading.instruments, events: sink, settings: .init(bookDepth: depth))
        await RandomTrading.fund(venue)
        var replicas: [String: BookReplica] = [:]
        for instrument in RandomTrading.instruments {
            _ = await venue.withBookSnapshot(instrument: instrument.symbol) { snapshot in
                var replica = BookReplica(instrument: instrument.symbol)
                replica.seq = snapshot.seq
                replicas[instrument.symbol] = replica
            }
        }
        var consumed = 0
        for round in 0..<40 {
            await RandomTrading.run(venue, steps: 25, seed: UInt64(round + 1000), startMs: Int64(round) * 100_000)
            let events = sink.events
            for symbol in replicas.keys {
                #expect(replicas[symbol]!.apply(Array(events[consumed...])) == nil)
            }
            consumed = events.count
            for instrument in RandomTrading.instruments {
                _ = await venue.withBookSnapshot(instrument: instrument.symbol) { snapshot in
                    #expect(snapshot.bids.count <= depth && snapshot.asks.count <= depth)
                    #expect(replicas[instrument.symbol]!.snapshot == snapshot)
                }
            }
        }
    }

    @Test func tickerFollowsTradesAndTheTopOfTheBook() async throws {
        let sink = CapturingSink()
        let venue = BuiltinVenue(instruments: Fixtures.all, events: sink)
        await venue.applyDeposits([
            VenueDeposit(id: 1, accountID: "a_1", asset: "USD", amount: d("100000")),
            VenueDeposit(id: 2, accountID: "a_2", asset: "BTC", amount: d("100")),
        ])
        func place(_ account: String, _ side: OrderSide, _ qty: String, _ price: String, _ atMs: Int64) async throws {
            _ = try await venue.place(
                OrderRequest(
                    accountID: account, instrument: "BTC-USD", side: side, type: .limit, qty: d(qty), price: d(price), timeInForce: .gtc,
                    clientOrderID: "c\(atMs)"), nowMs: atMs
            ).get()
        }
        try await place("a_2", .sell, "2", "104", 1_000)
        try await place("a_1", .buy, "1", "98", 2_000)
        var ticker = try #require(sink.tickers.last)
        #expect(ticker.bestBid?.price == d("98") && ticker.bestAsk?.price == d("104") && ticker.bestAsk?.qty == d("2"))
        #expect(ticker.lastPrice == nil && ticker.volume24h == .zero && ticker.referencePrice == d("100"))
        try await place("a_1", .buy, "0.5", "104", 3_000)
        ticker = try #require(sink.tickers.last)
        #expect(ticker.lastPrice == d("104") && ticker.volume24h == d("0.5") && ticker.bestAsk?.qty == d("1.5"))
        #expect(ticker.timestampMs == 3_000)
        // A day later the volume has rolled out of the window.
        try await place("a_1", .buy, "0.25", "104", 3_000 + 86_400_000 + 60_000)
        ticker = try #require(sink.tickers.last)
        #expect(ticker.volume24h == d("0.25"))
        // A deposit changes no book: no ticker.
        let count = sink.tickers.count
        await venue.applyDeposits([VenueDeposit(id: 3, accountID: "a_1", asset: "USD", amount: d("1"))])
        #expect(sink.tickers.count == count)
    }

    @Test func rollingVolumeKeepsADay() {
        var volume = RollingVolume()
        volume.add(d("1"), atMs: 0)
        volume.add(d("2"), atMs: 30_000)
        volume.add(d("4"), atMs: 43_200_000)
        #expect(volume.total == d("7"))
        volume.expire(atMs: 86_400_000 + 60_000)
        #expect(volume.total == d("4"))
        volume.expire(atMs: 86_400_000 * 3)
        #expect(volume.total == .zero)
    }

    @Test func liquiditySimulatorQuotesWithoutCrossingAndStaysBounded() async throws {
        let sink = CapturingSink()
        let venue = BuiltinVenue(instruments: DemoMarket.instruments, events: sink)
        await venue.applyDeposits(
            DemoMarket.houseFunding.enumerated().map { VenueDeposit(id: Int64($0.offset), accountID: "house", asset: $0.element.0, amount: d($0.element.1)) })
        await venue.seedHouseLiquidity(accountID: "house", nowMs: 1)
        for step in 0..<400 {
            await venue.simulateLiquidity(accountID: "house", nowMs: Int64(2 + step), seed: UInt64(step))
        }
        #expect(!sink.events.contains { $0.trade != nil })
        let open = await venue.openOrders(accountID: "house")
        for instrument in DemoMarket.instruments {
            #expect(open.filter { $0.instrument == instrument.symbol }.count <= LiquiditySimulator.maxOrdersPerInstrument)
            let (bid, ask) = await venue.bestBidAsk(instrument: instrument.symbol)
            if let bid, let ask { #expect(bid < ask) }
        }
        #expect(sink.tickers.count > 100)
    }
}
