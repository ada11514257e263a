@testable import BulwarkCore
@testable import BulwarkVenue
import Dispatch
import Synchronization
import Testing

/// A journal whose appends wait, while `hold` is on, until the test lets each one through (or
/// fails it): the test decides when a sync "completes", with no clock involved.
final class GatedJournal: VenueJournal {
    private struct State {
        var batches: [[JournalEntry]] = []
        var holding = false
        var waiting = 0
        var failNext = false
    }

    private let state = Mutex(State())
    private let gate = DispatchSemaphore(value: 0)

    var batches: [[JournalEntry]] { state.withLock { $0.batches } }
    /// Appends blocked at the gate now.
    var waiting: Int { state.withLock { $0.waiting } }

    func hold() { state.withLock { $0.holding = true } }

    /// Lets one blocked append through; with `failing`, it throws instead of storing.
    func release(failing: Bool = false) {
        state.withLock { $0.failNext = failing }
        gate.signal()
    }

    func append(contentsOf entries: [JournalEntry]) throws {
        if state.withLock({ state in
            if state.holding { state.waiting += 1 }
            return state.holding
        }) {
            gate.wait()
            let fail = state.withLock { state in
                state.waiting -= 1
                defer { state.failNext = false }
                return state.failNext
            }
            if fail { throw JournalFailure() }
        }
        state.withLock { $0.batches.append(entries) }
    }

    func entries() throws -> [JournalEntry] { state.withLock { $0.batches.flatMap { $0 } } }
}

/// Waits (without asserting any duration) until `condition` holds.
func eventually(_ condition: () async -> Bool) async throws {
    while !(await condition()) { try await Task.sleep(for: .milliseconds(1)) }
}

@Suite struct GroupCommitTests {
    static func order(_ account: String, _ side: OrderSide, _ qty: String, at price: String, _ clientID: String) -> OrderRequest {
        OrderRequest(
            accountID: account, instrument: "BTC-USD", side: side, type: .limit, qty: d(qty), price: d(price), timeInForce: .gtc,
            clientOrderID: clientID)
    }

    /// A venue on a gated journal with a_1 holding USD and a_2 holding BTC (appended before the gate closes).
    static func fundedVenue() async throws -> (BuiltinVenue, GatedJournal, CapturingSink) {
        let journal = GatedJournal()
        let sink = CapturingSink()
        let venue = BuiltinVenue(instruments: Fixtures.all, events: sink, settings: .init(journal: journal))
        _ = try await venue.recover()
        await venue.applyDeposits([
            VenueDeposit(id: 1, accountID: "a_1", asset: "USD", amount: d("100000")),
            VenueDeposit(id: 2, accountID: "a_2", asset: "BTC", amount: d("100")),
        ])
        journal.hold()
        return (venue, journal, sink)
    }

    @Test func operationsArrivingDuringASyncShareTheNextOneAndNobodyHearsEarly() async throws {
        let (venue, journal, sink) = try await Self.fundedVenue()
        let published = sink.events.count
        let first = Task { await venue.place(Self.order("a_1", .buy, "1", at: "99", "c1"), nowMs: 10) }
        try await eventually { journal.waiting == 1 }
        // Applied while the first sync runs: they wait for the next one, together (order ids are
        // numbered from 1, so the first order is o_1).
        let second = Task { await venue.place(Self.order("a_2", .sell, "1", at: "101", "c2"), nowMs: 11) }
        let third = Task { await venue.cancel(accountID: "a_1", orderID: "o_1", nowMs: 12) }
        try await eventually { await venue.unpublishedCount == 3 }
        #expect(sink.events.count == published)
        // A query waits for the published state: it cannot see the second place before its sync.
        let query = Task { await venue.openOrders(accountID: "a_2") }
        journal.release()
        try await eventually { await venue.unpublishedCount == 2 && journal.waiting == 1 }
        #expect(sink.events.count > published)
        let afterFirst = sink.events.count
        journal.release()
        let open = await query.value
        #expect(open.map(\.clientOrderID) == ["c2"])
        #expect(sink.events.count > afterFirst)
        #expect(journal.batches.map(\.count) == [1, 1, 1, 2])  // two deposits, the first place, then two together
        #expect(try await first.value.get().order.status == .open)
        #expect(try await second.value.get().order.status == .open)
        #expect(try await third.value.get().status == .cancelled)
        // Replay of the batched journal rebuilds the same state.
        let restarted = BuiltinVenue(instruments: Fixtures.all, events: CapturingSink(), settings: .init(journal: InMemoryVenueJournal(entries: try journal.entries())))
        _ = try await restarted.recover()
        #expect(await restarted.openOrders(accountID: "a_2").map(\.clientOrderID) == ["c2"])
        #expect(await restarted.openOrders(accountID: "a_1").isEmpty)
    }

    @Test func aFailedBatchRefusesItAndEverythingAppliedAfterIt() async throws {
        let (venue, journal, sink) = try await Self.fundedVenue()
        let published = sink.events.count
        let first = Task { await venue.place(Self.order("a_1", .buy, "1", at: "99", "c1"), nowMs: 10) }
        try await eventually { journal.waiting == 1 }
        let second = Task { await venue.place(Self.order("a_2", .sell, "1", at: "101", "c2"), nowMs: 11) }
        try await eventually { await venue.unpublishedCount == 2 }
        journal.release(failing: true)
        #expect(await first.value.failureCode == .internalError)
        #expect(await second.value.failureCode == .internalError)
        #expect(sink.events.count == published)
        #expect(await venue.stoppedReason?.hasPrefix("journal append failed") == true)
        #expect(await venue.place(Self.order("a_1", .buy, "1", at: "98", "c3"), nowMs: 12).failureCode == .internalError)
        #expect(journal.batches.map(\.count) == [1, 1])  // the deposits only
    }
}
