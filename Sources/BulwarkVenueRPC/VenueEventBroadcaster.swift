import BulwarkCore
import BulwarkVenue
import Synchronization

/// The venue process's side of the event stream: receives the venue's events inside its serial
/// order, encodes each batch ONCE into a numbered `StreamItem`, keeps it in the replay ring and
/// hands the same item to every subscribed gateway.
///
/// A gateway that falls behind by more than `subscriberBuffer` items is cut off (its stream ends
/// with `resourceExhausted`); it reconnects and resumes from the ring like after any other break,
/// so a slow gateway never holds the venue back and never makes it buffer without bound.
public final class VenueEventBroadcaster: VenueEventSink, Sendable {
    typealias Item = Bulwark_Venue_V1_StreamItem

    /// Identifies this run of the venue: sequence numbers restart with each run.
    public let run: String
    let subscriberBuffer: Int
    private let state: Mutex<State>

    private struct State {
        var ring: VenueEventRing<Item>
        var subscribers: [Int: AsyncStream<Item>.Continuation] = [:]
        var overflowed: Set<Int> = []
        var nextID = 1
    }

    public init(ringCapacity: Int, subscriberBuffer: Int? = nil, run: String = Identifier.random(prefix: "run", bytes: 8)) {
        self.run = run
        // Room for a full replay plus what arrives while it is being written.
        self.subscriberBuffer = subscriberBuffer ?? (ringCapacity + 10_000)
        state = Mutex(State(ring: VenueEventRing(capacity: ringCapacity)))
    }

    public var lastSeq: UInt64 { state.withLock { $0.ring.lastSeq } }

    var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    // MARK: VenueEventSink (called inside the venue's serial order)

    public func venueEvents(_ events: [EngineEvent]) {
        var batch = Bulwark_Venue_V1_EventBatch()
        batch.events = events.map(Wire.message)
        var item = Item()
        item.events = batch
        publish(item)
    }

    public func venueTickers(_ tickers: [Ticker]) {
        var batch = Bulwark_Venue_V1_TickerBatch()
        batch.tickers = tickers.map(Wire.message)
        var item = Item()
        item.tickers = batch
        publish(item)
    }

    private func publish(_ item: Item) {
        var item = item
        state.withLock { state in
            item.seq = state.ring.lastSeq + 1
            _ = state.ring.append(item)
            for (id, subscriber) in state.subscribers {
                if case .dropped = subscriber.yield(item) { Self.cutOff(id, in: &state) }
            }
        }
    }

    // MARK: Subscribers

    /// A new subscriber's stream (not yet receiving anything).
    func makeSubscriber() -> (id: Int, stream: AsyncStream<Item>, continuation: AsyncStream<Item>.Continuation) {
        let (stream, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingOldest(subscriberBuffer))
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        return (id, stream, continuation)
    }

    /// Resumes a subscriber after `seq`: queues what it missed and registers it, atomically with
    /// respect to new events. False when the ring no longer covers `seq` (the caller then starts
    /// it from a fresh state).
    func resume(_ id: Int, continuation: AsyncStream<Item>.Continuation, after seq: UInt64) -> Bool {
        state.withLock { state in
            guard case .items(let missed) = state.ring.since(seq) else { return false }
            var hello = Item()
            hello.seq = seq
            hello.state.venueRun = run
            hello.state.resumed = true
            continuation.yield(hello)
            for item in missed { continuation.yield(item) }
            state.subscribers[id] = continuation
            return true
        }
    }

    /// Starts a subscriber from the venue's current state. Must be called inside the venue's serial
    /// order (`BuiltinVenue.withMarketState`), so no event can fall between the state and the stream.
    func start(_ id: Int, continuation: AsyncStream<Item>.Continuation, books: [BookSnapshot], tickers: [Ticker], gap: Bool) {
        var market = Bulwark_Venue_V1_MarketState()
        market.venueRun = run
        market.gap = gap
        market.books = books.map(Wire.message)
        market.tickers = tickers.map(Wire.message)
        var item = Item()
        item.state = market
        state.withLock { state in
            item.seq = state.ring.lastSeq
            continuation.yield(item)
            state.subscribers[id] = continuation
        }
    }

    /// Forgets a subscriber; true if it was cut off for falling behind.
    @discardableResult
    func remove(_ id: Int) -> Bool {
        state.withLock { state in
            state.subscribers.removeValue(forKey: id)?.finish()
            return state.overflowed.remove(id) != nil
        }
    }

    private static func cutOff(_ id: Int, in state: inout State) {
        state.subscribers.removeValue(forKey: id)?.finish()
        state.overflowed.insert(id)
    }
}
