import BulwarkCore
import BulwarkVenue
import Testing

@testable import BulwarkVenueRPC

/// The venue side of the event stream without a network: numbering, resume from the ring, a fresh
/// start, and cutting off a subscriber that falls behind.
@Suite struct VenueEventBroadcasterTests {
    typealias Item = Bulwark_Venue_V1_StreamItem

    func balanceEvent(_ n: Int) -> [EngineEvent] {
        [.balanceUpdate(accountID: "a_1", Balance(asset: "USD", total: FixedDecimal(integer: Int64(n)), available: FixedDecimal(integer: Int64(n))))]
    }

    /// Everything already queued for a subscriber (its stream is finished first, so this ends).
    func drain(_ broadcaster: VenueEventBroadcaster, _ id: Int, _ stream: AsyncStream<Item>) async -> [Item] {
        broadcaster.remove(id)
        var items: [Item] = []
        for await item in stream { items.append(item) }
        return items
    }

    @Test func numbersEveryBatchAndDeliversItToEverySubscriber() async throws {
        let broadcaster = VenueEventBroadcaster(ringCapacity: 8)
        let first = broadcaster.makeSubscriber()
        let second = broadcaster.makeSubscriber()
        broadcaster.start(first.id, continuation: first.continuation, books: [], tickers: [], gap: false)
        broadcaster.start(second.id, continuation: second.continuation, books: [], tickers: [], gap: false)
        broadcaster.venueEvents(balanceEvent(1))
        broadcaster.venueTickers([])
        #expect(broadcaster.lastSeq == 2)
        for subscriber in [first, second] {
            let items = await drain(broadcaster, subscriber.id, subscriber.stream)
            #expect(items.map(\.seq) == [0, 1, 2])
            guard case .state(let state)? = items.first?.item else { Issue.record("expected the state first"); continue }
            #expect(state.venueRun == broadcaster.run && !state.gap && !state.resumed)
            guard case .events(let batch)? = items[1].item else { Issue.record("expected events"); continue }
            #expect(try Wire.event(batch.events[0]) == balanceEvent(1)[0])
        }
    }

    @Test func aResumingSubscriberGetsWhatItMissedThenLiveEvents() async {
        let broadcaster = VenueEventBroadcaster(ringCapacity: 8)
        for n in 1...5 { broadcaster.venueEvents(balanceEvent(n)) }
        let subscriber = broadcaster.makeSubscriber()
        #expect(broadcaster.resume(subscriber.id, continuation: subscriber.continuation, after: 3))
        broadcaster.venueEvents(balanceEvent(6))
        let items = await drain(broadcaster, subscriber.id, subscriber.stream)
        guard case .state(let hello)? = items.first?.item else { Issue.record("expected the resume marker"); return }
        #expect(hello.resumed && items[0].seq == 3)
        #expect(items.dropFirst().map(\.seq) == [4, 5, 6])
    }

    @Test func aPositionTheRingNoLongerHoldsIsRefused() {
        let broadcaster = VenueEventBroadcaster(ringCapacity: 2)
        for n in 1...5 { broadcaster.venueEvents(balanceEvent(n)) }
        let subscriber = broadcaster.makeSubscriber()
        #expect(!broadcaster.resume(subscriber.id, continuation: subscriber.continuation, after: 2))
        #expect(broadcaster.resume(subscriber.id, continuation: subscriber.continuation, after: 3))
    }

    @Test func aFreshStartCarriesTheBooksAndTheCurrentSequence() async throws {
        let broadcaster = VenueEventBroadcaster(ringCapacity: 4)
        for n in 1...3 { broadcaster.venueEvents(balanceEvent(n)) }
        let subscriber = broadcaster.makeSubscriber()
        let book = BookSnapshot(instrument: "BTC-USD", seq: 9, bids: [(FixedDecimal(integer: 1), FixedDecimal(integer: 2))], asks: [])
        broadcaster.start(subscriber.id, continuation: subscriber.continuation, books: [book], tickers: [], gap: true)
        broadcaster.venueEvents(balanceEvent(4))
        let items = await drain(broadcaster, subscriber.id, subscriber.stream)
        #expect(items.map(\.seq) == [3, 4])
        guard case .state(let state)? = items.first?.item else { Issue.record("expected the state first"); return }
        #expect(state.gap)
        #expect(try state.books.map(Wire.snapshot) == [book])
    }

    @Test func aSubscriberThatFallsBehindIsCutOff() async {
        let broadcaster = VenueEventBroadcaster(ringCapacity: 100, subscriberBuffer: 3)
        let subscriber = broadcaster.makeSubscriber()
        broadcaster.start(subscriber.id, continuation: subscriber.continuation, books: [], tickers: [], gap: false)
        for n in 1...5 { broadcaster.venueEvents(balanceEvent(n)) }
        #expect(broadcaster.subscriberCount == 0)
        var items: [Item] = []
        for await item in subscriber.stream { items.append(item) }
        // What it had room for, in order; it resumes from the ring after the last one.
        #expect(items.map(\.seq) == [0, 1, 2])
        #expect(broadcaster.remove(subscriber.id))
    }
}
