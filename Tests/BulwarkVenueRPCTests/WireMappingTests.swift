import BulwarkCore
import BulwarkVenue
import SwiftProtobuf
import Testing

@testable import BulwarkVenueRPC

/// Every value crosses the venue link and comes back equal, also through the protobuf bytes.
@Suite struct WireMappingTests {
    func d(_ text: String) -> FixedDecimal { FixedDecimal(parsingSigned: text)! }

    /// Encodes to bytes and back, so field numbers and optionals are exercised too.
    func roundTrip<M: SwiftProtobuf.Message>(_ message: M) throws -> M {
        try M(serializedBytes: try message.serializedBytes() as [UInt8])
    }

    var sampleOrder: Order {
        Order(
            orderID: "o_42", clientOrderID: "bot-1", accountID: "a_1", keyID: "k_9", instrument: "BTC-USD", side: .buy, type: .limit,
            timeInForce: .postOnly, price: d("60000.5"), qty: d("0.75"), filledQty: d("0.25"), filledNotional: d("15000.125"),
            status: .partiallyFilled, cancelReason: nil, createdMs: 1_700_000_000_000, updatedMs: 1_700_000_000_123)
    }

    @Test func orderRequestsKeepEveryMemberAndTheirAbsence() throws {
        let full = OrderRequest(
            accountID: "a_1", keyID: "k_1", instrument: "ETH-USD", side: .sell, type: .limit, qty: d("1.5"), price: d("5000.05"),
            timeInForce: .fok, clientOrderID: "c-1", deadlineMs: 123, maxNotional: d("10000"))
        #expect(try Wire.request(roundTrip(Wire.message(full))) == full)
        let bare = OrderRequest(
            accountID: "a_1", instrument: "BTC-PERP", side: .buy, type: .market, qty: d("0.001"), price: nil, timeInForce: .ioc,
            clientOrderID: "m-1")
        #expect(try Wire.request(roundTrip(Wire.message(bare))) == bare)
    }

    @Test func ordersRoundTrip() throws {
        let order = sampleOrder
        let back = try Wire.order(roundTrip(Wire.message(order)))
        #expect(back == order)
        #expect(back.averagePrice == order.averagePrice)
        let cancelled = Order(
            orderID: "o_7", clientOrderID: "x", accountID: "a_2", keyID: nil, instrument: "BTC-USD", side: .sell, type: .market,
            timeInForce: .ioc, price: nil, qty: d("1"), filledQty: .zero, filledNotional: .zero, status: .cancelled,
            cancelReason: .noLiquidity, createdMs: 1, updatedMs: 2)
        #expect(try Wire.order(roundTrip(Wire.message(cancelled))) == cancelled)
    }

    @Test func rejectionsKeepCodeFieldAndReason() throws {
        let rejection = OrderRejection(.riskLimit, field: "params.qty", reason: "insufficient_balance")
        #expect(Wire.rejection(try roundTrip(Wire.message(rejection))) == rejection)
        let bare = OrderRejection(.unknownInstrument)
        #expect(Wire.rejection(try roundTrip(Wire.message(bare))) == bare)
        var unknownCode = Bulwark_Venue_V1_Rejection()
        unknownCode.code = 99_999
        #expect(Wire.rejection(unknownCode).code == .internalError)
    }

    @Test func everyEngineEventRoundTrips() throws {
        let trade = Trade(
            tradeID: "t_3", instrument: "BTC-USD", price: d("60000"), qty: d("0.1"), takerSide: .sell, makerOrderID: "o_1",
            takerOrderID: "o_2", makerAccountID: "a_1", takerAccountID: "a_2", makerFee: d("1.2"), takerFee: d("3"),
            timestampMs: 99)
        let events: [EngineEvent] = [
            .orderUpdate(sampleOrder),
            .trade(trade),
            .bookDelta(
                instrument: "BTC-USD", seq: 17,
                changes: [BookLevelChange(side: .buy, price: d("59990"), qty: .zero), BookLevelChange(side: .sell, price: d("60010.5"), qty: d("2"))]),
            .balanceUpdate(accountID: "a_1", Balance(asset: "USD", total: d("100"), available: d("40.5"))),
            .positionUpdate(accountID: "a_2", Position(instrument: "BTC-PERP", qty: d("-0.5"))),
        ]
        for event in events {
            #expect(try Wire.event(roundTrip(Wire.message(event))) == event)
        }
    }

    @Test func snapshotsAndTickersRoundTrip() throws {
        let snapshot = BookSnapshot(
            instrument: "ETH-USD", seq: 5, bids: [(d("4999"), d("1")), (d("4998"), d("2.5"))], asks: [(d("5001"), d("0.001"))])
        #expect(try Wire.snapshot(roundTrip(Wire.message(snapshot))) == snapshot)
        let ticker = Ticker(
            instrument: "BTC-USD", bestBid: (d("59999.5"), d("1")), bestAsk: nil, lastPrice: d("60000"), volume24h: d("12.5"),
            referencePrice: d("60000"), timestampMs: 7)
        #expect(try Wire.ticker(roundTrip(Wire.message(ticker))) == ticker)
        let empty = Ticker(instrument: "X", bestBid: nil, bestAsk: nil, lastPrice: nil, volume24h: .zero, referencePrice: nil, timestampMs: 0)
        #expect(try Wire.ticker(roundTrip(Wire.message(empty))) == empty)
    }

    @Test func theDemoInstrumentsRoundTrip() throws {
        for instrument in DemoMarket.instruments {
            #expect(try Wire.instrument(roundTrip(Wire.message(instrument))) == instrument)
        }
    }

    @Test func depositsKeepTheirIdsIncludingTheVenuesOwn() throws {
        for deposit in DemoMarket.venueHouseDeposits + [VenueDeposit(id: 12, accountID: "a_1", asset: "BTC", amount: d("0.5"))] {
            #expect(try Wire.deposit(roundTrip(Wire.message(deposit))) == deposit)
        }
    }

    @Test func malformedValuesAreRefusedNotGuessed() {
        var order = Wire.message(sampleOrder)
        order.side = "sideways"
        #expect(throws: WireError.self) { try Wire.order(order) }
        var request = Wire.message(OrderRequest(
            accountID: "a", instrument: "BTC-USD", side: .buy, type: .limit, qty: d("1"), price: d("1"), timeInForce: .gtc, clientOrderID: "c"))
        request.qty = "1e5"
        #expect(throws: WireError.self) { try Wire.request(request) }
        #expect(throws: WireError.self) { try Wire.event(Bulwark_Venue_V1_EngineEventMsg()) }
    }
}

@Suite struct BookMirrorTests {
    func d(_ text: String) -> FixedDecimal { FixedDecimal(parsing: text)! }

    @Test func appliesDeltasInOrderAndSortsTheSnapshot() {
        var book = BookMirror(BookSnapshot(instrument: "BTC-USD", seq: 3, bids: [(d("100"), d("1"))], asks: [(d("101"), d("2"))]))
        let first = book.apply(seq: 4, changes: [BookLevelChange(side: .buy, price: d("100.5"), qty: d("3")), BookLevelChange(side: .sell, price: d("101"), qty: .zero)])
        let second = book.apply(seq: 5, changes: [BookLevelChange(side: .sell, price: d("102"), qty: d("1")), BookLevelChange(side: .buy, price: d("99"), qty: d("4"))])
        #expect(first && second)
        let snapshot = book.snapshot
        #expect(snapshot.seq == 5)
        #expect(snapshot.bids.map(\.price) == [d("100.5"), d("100"), d("99")])
        #expect(snapshot.asks.map(\.price) == [d("102")])
        #expect(book.bestBid == d("100.5"))
        #expect(book.bestAsk == d("102"))
    }

    @Test func refusesADeltaOutOfSequence() {
        var book = BookMirror(BookSnapshot(instrument: "X", seq: 10, bids: [], asks: []))
        let applied = book.apply(seq: 12, changes: [BookLevelChange(side: .buy, price: d("1"), qty: d("1"))])
        #expect(!applied)
        #expect(book.seq == 10)
        #expect(book.snapshot.bids.isEmpty)
    }
}
