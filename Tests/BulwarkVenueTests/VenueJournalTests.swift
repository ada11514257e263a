@testable import BulwarkCore
@testable import BulwarkVenue
import Synchronization
import Testing

/// Collects what a venue publishes.
final class CapturingSink: VenueEventSink {
    private let captured = Mutex<(events: [EngineEvent], tickers: [Ticker])>(([], []))

    var events: [EngineEvent] { captured.withLock { $0.events } }
    var tickers: [Ticker] { captured.withLock { $0.tickers } }

    func venueEvents(_ events: [EngineEvent]) { captured.withLock { $0.events += events } }
    func venueTickers(_ tickers: [Ticker]) { captured.withLock { $0.tickers += tickers } }
}

struct JournalFailure: Error {}

/// Drives a venue with random operations (the property test's generators) from several accounts.
struct RandomTrading {
    static let accounts = ["a_1", "a_2", "a_3", "a_4"]
    static let instruments = [Fixtures.spot, Fixtures.perp, Fixtures.option]

    static func fund(_ venue: BuiltinVenue) async {
        var id: Int64 = 1
        for account in accounts {
            for (asset, amount) in [("USD", "5000000"), ("BTC", "5000")] {
                await venue.applyDeposits([VenueDeposit(id: id, accountID: account, asset: asset, amount: d(amount))], nowMs: 1)
                id += 1
            }
        }
    }

    /// `steps` operations; returns the client order ids of the orders accepted.
    @discardableResult
    static func run(_ venue: BuiltinVenue, steps: Int, seed: UInt64, startMs: Int64 = 1_000) async -> [String] {
        var rng = SplitMix64(seed: seed)
        var nowMs = startMs
        var accepted: [String] = []
        // A mirror engine for the generators' price choices (they look at the reference and book).
        var mirror = MatchingEngine(instruments: instruments)
        for step in 0..<steps {
            nowMs += Int64(rng.int(0...2000))
            let account = rng.pick(accounts)
            let roll = rng.int(0...99)
            if roll < 65 {
                let instrument = rng.pick(instruments)
                let request = EnginePropertyTests.randomRequest(
                    &rng, engine: mirror, account: account, instrument: instrument, clientOrderID: "r\(seed)-\(step)")
                _ = mirror.place(request, nowMs: nowMs)
                if case .success(let outcome) = await venue.place(request, nowMs: nowMs), !outcome.duplicate { accepted.append(request.clientOrderID) }
            } else if roll < 80 {
                let open = await venue.openOrders(accountID: account)
                if let target = open.isEmpty ? nil : rng.pick(open) {
                    _ = mirror.cancel(accountID: account, orderID: target.orderID, nowMs: nowMs)
                    _ = await venue.cancel(accountID: account, orderID: target.orderID, nowMs: nowMs)
                }
            } else if roll < 95 {
                let open = await venue.openOrders(accountID: account)
                if let target = open.isEmpty ? nil : rng.pick(open), let instrument = mirror.instrument(target.instrument) {
                    let price = rng.chance(60) ? EnginePropertyTests.randomPrice(&rng, engine: mirror, instrument: instrument, wide: false) : nil
                    let qty = rng.chance(60) || price == nil ? target.filledQty + EnginePropertyTests.randomQty(&rng, instrument: instrument) : nil
                    _ = mirror.amend(accountID: account, orderID: target.orderID, newPrice: price, newQty: qty, nowMs: nowMs)
                    _ = await venue.amend(accountID: account, orderID: target.orderID, newPrice: price, newQty: qty, nowMs: nowMs)
                }
            } else {
                _ = mirror.cancelAll(accountID: account, instrument: nil, nowMs: nowMs)
                _ = await venue.cancelAll(accountID: account, instrument: nil, nowMs: nowMs)
            }
        }
        return accepted
    }

    /// Everything a client could observe about the venue's state.
    static func state(of venue: BuiltinVenue, clientOrderIDs: [String]) async -> [String] {
        var lines: [String] = []
        for account in accounts {
            lines.append("\(account) balances \(await venue.balances(accountID: account))")
            lines.append("\(account) positions \(await venue.positions(accountID: account))")
            lines.append("\(account) open \(await venue.openOrders(accountID: account).map(\.orderID))")
            for cid in clientOrderIDs {
                if let order = await venue.order(accountID: account, clientOrderID: cid) { lines.append("\(cid) \(order)") }
            }
        }
        for instrument in instruments {
            _ = await venue.withBookSnapshot(instrument: instrument.symbol) { lines.append("book \($0.seq) \($0.bids) \($0.asks)") }
            lines.append("ticker \(String(describing: await venue.ticker(instrument: instrument.symbol, nowMs: 0)))")
        }
        lines.append("fees \(await venue.balances(accountID: MatchingEngine.feeAccountID))")
        return lines
    }
}

@Suite struct VenueJournalTests {
    @Test(arguments: [UInt64(7), 99])
    func replayRebuildsExactlyTheSameVenue(seed: UInt64) async throws {
        let journal = InMemoryVenueJournal()
        let sink = CapturingSink()
        let live = BuiltinVenue(instruments: RandomTrading.instruments, events: sink, settings: .init(journal: journal))
        #expect(try await live.recover() == RecoveryReport())
        await RandomTrading.fund(live)
        let placed = await RandomTrading.run(live, steps: 1_500, seed: seed)
        #expect(placed.count > 500)

        let restored = BuiltinVenue(
            instruments: RandomTrading.instruments, events: CapturingSink(), settings: .init(journal: InMemoryVenueJournal(entries: try journal.entries())))
        let report = try await restored.recover()
        #expect(report.entries == (try journal.entries()).count)
        #expect(report.fills > 100)
        let expected = await RandomTrading.state(of: live, clientOrderIDs: placed)
        let actual = await RandomTrading.state(of: restored, clientOrderIDs: placed)
        #expect(expected == actual)

        // Both go on identically: the next ids continue where the journal stopped.
        let next = OrderRequest(
            accountID: "a_1", instrument: "BTC-USD", side: .buy, type: .limit, qty: d("1"), price: d("95"), timeInForce: .gtc,
            clientOrderID: "after")
        let a = try await live.place(next, nowMs: 10_000_000).get()
        let b = try await restored.place(next, nowMs: 10_000_000).get()
        #expect(a.order == b.order)
        // Deposits credited before are recognised after the replay.
        #expect(await restored.applyDeposits([VenueDeposit(id: 1, accountID: "a_1", asset: "USD", amount: d("1"))]) == 0)
    }

    @Test func onlyStateChangesAreJournaled() async throws {
        let journal = InMemoryVenueJournal()
        let venue = BuiltinVenue(instruments: Fixtures.all, events: CapturingSink(), settings: .init(journal: journal))
        _ = try await venue.recover()
        await venue.applyDeposits([VenueDeposit(id: 1, accountID: "a_1", asset: "USD", amount: d("100000"))], nowMs: 5)
        await venue.applyDeposits([VenueDeposit(id: 1, accountID: "a_1", asset: "USD", amount: d("100000"))], nowMs: 6)
        let request = OrderRequest(
            accountID: "a_1", instrument: "BTC-USD", side: .buy, type: .limit, qty: d("1"), price: d("99"), timeInForce: .gtc,
            clientOrderID: "c1")
        let order = try await venue.place(request, nowMs: 10).get().order
        #expect(try await venue.place(request, nowMs: 11).get().duplicate)  // duplicate: not journaled
        #expect(await venue.place(OrderRequest(
            accountID: "a_1", instrument: "BTC-USD", side: .buy, type: .limit, qty: d("1"), price: d("99.5"), timeInForce: .gtc,
            clientOrderID: "c2"), nowMs: 12).failureCode == .priceNotOnTick)  // refused: not journaled
        _ = try await venue.amend(accountID: "a_1", orderID: order.orderID, newPrice: d("99"), newQty: nil, nowMs: 13).get()  // no change
        _ = try await venue.cancel(accountID: "a_1", clientOrderID: "c1", nowMs: 14).get()
        #expect(await venue.cancelAll(accountID: "a_1", instrument: nil, nowMs: 15).isEmpty)  // nothing to cancel
        let commands = try journal.entries().map { VenueCommand(encoded: $0.command) }
        #expect(
            commands == [
                .deposit(VenueDeposit(id: 1, accountID: "a_1", asset: "USD", amount: d("100000"))), .place(request),
                .cancel(accountID: "a_1", orderID: order.orderID),
            ])
        #expect(try journal.entries().map(\.atMs) == [5, 10, 14])
        #expect(try journal.entries()[2].outcome == #"{"orders":[["o_1","cancelled","0","user"]],"fills":[]}"#)
    }

    @Test func everyCommandSurvivesItsTextForm() {
        let commands: [VenueCommand] = [
            .place(
                OrderRequest(
                    accountID: "a_1", keyID: "k_9", instrument: "BTC-PERP", side: .sell, type: .limit, qty: d("0.001"), price: d("60000.5"),
                    timeInForce: .postOnly, clientOrderID: "x-1", deadlineMs: 1_700_000_000_000, maxNotional: d("1000"))),
            .place(
                OrderRequest(
                    accountID: "a_\"q", instrument: "BTC-USD", side: .buy, type: .market, qty: d("2"), price: nil, timeInForce: .fok,
                    clientOrderID: "y")),
            .cancel(accountID: "a_1", orderID: "o_5"),
            .amend(accountID: "a_1", orderID: "o_5", price: d("1.5"), qty: nil, maxNotional: nil),
            .amend(accountID: "a_1", orderID: "o_5", price: nil, qty: d("3"), maxNotional: d("7")),
            .cancelAll(accountID: "a_2", instrument: nil, reason: .killSwitch),
            .cancelAll(accountID: "a_2", instrument: "ETH-USD", reason: .cancelAll),
            .deposit(VenueDeposit(id: 42, accountID: "a_3", asset: "USD", amount: d("123.000000000000000001"))),
            .setStatus(symbol: "BTC-USD", status: .halted),
        ]
        for command in commands {
            #expect(VenueCommand(encoded: command.encoded) == command, "\(command.encoded)")
        }
        #expect(VenueCommand(encoded: #"{"v":2,"op":"cancel","account":"a","order_id":"o_1"}"#) == nil)
        #expect(VenueCommand(encoded: #"{"v":1,"op":"explode","account":"a"}"#) == nil)
        #expect(VenueCommand(encoded: "not json") == nil)
    }

    @Test func aJournalThatReplaysDifferentlyIsRefused() async throws {
        let journal = InMemoryVenueJournal()
        let venue = BuiltinVenue(instruments: Fixtures.all, events: CapturingSink(), settings: .init(journal: journal))
        _ = try await venue.recover()
        await venue.applyDeposits([VenueDeposit(id: 1, accountID: "a_1", asset: "USD", amount: d("1000"))])
        _ = await venue.place(
            OrderRequest(
                accountID: "a_1", instrument: "BTC-USD", side: .buy, type: .limit, qty: d("1"), price: d("99"), timeInForce: .gtc,
                clientOrderID: "c1"), nowMs: 10)
        var entries = try journal.entries()
        entries[1] = JournalEntry(atMs: entries[1].atMs, command: entries[1].command, outcome: entries[1].outcome.replacing("open", with: "filled"))
        let tampered = BuiltinVenue(instruments: Fixtures.all, events: CapturingSink(), settings: .init(journal: InMemoryVenueJournal(entries: entries)))
        await #expect(throws: JournalRecoveryError.self) { try await tampered.recover() }
        // Unrecovered, it refuses to trade.
        #expect(await tampered.cancelAll(accountID: "a_1", instrument: nil, nowMs: 20).isEmpty)
        #expect(await tampered.stoppedReason == "not recovered")

        let garbage = BuiltinVenue(
            instruments: Fixtures.all, events: CapturingSink(),
            settings: .init(journal: InMemoryVenueJournal(entries: [JournalEntry(atMs: 1, command: "{}", outcome: "")])))
        await #expect(throws: JournalRecoveryError.self) { try await garbage.recover() }
    }

    @Test func aFailedAppendStopsTheVenueAndNothingIsPublished() async throws {
        let journal = InMemoryVenueJournal()
        let sink = CapturingSink()
        let venue = BuiltinVenue(instruments: Fixtures.all, events: sink, settings: .init(journal: journal))
        _ = try await venue.recover()
        await venue.applyDeposits([VenueDeposit(id: 1, accountID: "a_1", asset: "USD", amount: d("1000"))])
        let published = sink.events.count
        journal.failAppends(with: JournalFailure())
        let request = OrderRequest(
            accountID: "a_1", instrument: "BTC-USD", side: .buy, type: .limit, qty: d("1"), price: d("99"), timeInForce: .gtc,
            clientOrderID: "c1")
        let result = await venue.place(request, nowMs: 10)
        #expect(result.failureCode == .internalError)
        #expect(sink.events.count == published)
        journal.failAppends(with: nil)
        // Stopped for good (until a restart replays the journal, which never saw that order).
        #expect(await venue.place(request, nowMs: 11).failureCode == .internalError)
        #expect(await venue.stoppedReason?.hasPrefix("journal append failed") == true)
        let restarted = BuiltinVenue(instruments: Fixtures.all, events: sink, settings: .init(journal: InMemoryVenueJournal(entries: try journal.entries())))
        _ = try await restarted.recover()
        #expect(await restarted.order(accountID: "a_1", clientOrderID: "c1") == nil)
    }

    @Test func replayIgnoresTodaysAccountLimits() async throws {
        let journal = InMemoryVenueJournal()
        let venue = BuiltinVenue(instruments: Fixtures.all, events: CapturingSink(), settings: .init(journal: journal))
        _ = try await venue.recover()
        await venue.applyDeposits([VenueDeposit(id: 1, accountID: "a_1", asset: "USD", amount: d("100000"))])
        for i in 0..<3 {
            _ = try await venue.place(
                OrderRequest(
                    accountID: "a_1", instrument: "BTC-USD", side: .buy, type: .limit, qty: d("1"), price: d("95"), timeInForce: .gtc,
                    clientOrderID: "c\(i)"), nowMs: 10
            ).get()
        }
        let stricter = BuiltinVenue(
            instruments: Fixtures.all, events: CapturingSink(),
            settings: .init(journal: InMemoryVenueJournal(entries: try journal.entries()), accountLimits: AccountLimits(maxOpenOrders: 1)))
        _ = try await stricter.recover()
        #expect(await stricter.openOrders(accountID: "a_1").count == 3)
        // …but new orders meet today's limit.
        let refused = await stricter.place(
            OrderRequest(
                accountID: "a_1", instrument: "BTC-USD", side: .buy, type: .limit, qty: d("1"), price: d("95"), timeInForce: .gtc,
                clientOrderID: "c9"), nowMs: 11)
        #expect(refused.failureReason == "max_open_orders")
    }

    @Test func concurrentDuplicatesMakeExactlyOneOrder() async throws {
        let journal = InMemoryVenueJournal()
        let venue = BuiltinVenue(instruments: Fixtures.all, events: CapturingSink(), settings: .init(journal: journal))
        _ = try await venue.recover()
        await venue.applyDeposits([VenueDeposit(id: 1, accountID: "a_1", asset: "USD", amount: d("100000"))])
        let outcomes = await withTaskGroup(of: PlaceOutcome?.self) { group in
            for i in 0..<64 {
                group.addTask {
                    // Same client order id, different contents: the first to arrive wins.
                    try? await venue.place(
                        OrderRequest(
                            accountID: "a_1", instrument: "BTC-USD", side: .buy, type: .limit, qty: d("1"), price: d(i % 2 == 0 ? "95" : "96"),
                            timeInForce: .gtc, clientOrderID: "same"), nowMs: 10
                    ).get()
                }
            }
            return await group.reduce(into: [PlaceOutcome]()) { if let outcome = $1 { $0.append(outcome) } }
        }
        #expect(outcomes.count == 64)
        #expect(outcomes.filter { !$0.duplicate }.count == 1)
        #expect(Set(outcomes.map(\.order.orderID)).count == 1)
        #expect(await venue.openOrders(accountID: "a_1").count == 1)
        #expect(try journal.entries().count == 2)  // the deposit and one place
    }
}

extension Result where Failure == OrderRejection {
    var failureReason: String? { if case .failure(let rejection) = self { rejection.reason } else { nil } }
}
