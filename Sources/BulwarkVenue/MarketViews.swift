import BulwarkCore

/// Top of book, last trade and rolling volume of one instrument (`ticker.<instrument>`).
public struct Ticker: Sendable, Equatable {
    public let instrument: String
    public let bestBid: (price: FixedDecimal, qty: FixedDecimal)?
    public let bestAsk: (price: FixedDecimal, qty: FixedDecimal)?
    public let lastPrice: FixedDecimal?
    /// Traded quantity over the last 24 hours (minute granularity).
    public let volume24h: FixedDecimal
    /// The collar's centre (last trade, or the listing's reference before the first trade).
    public let referencePrice: FixedDecimal?
    public let timestampMs: Int64

    public init(
        instrument: String, bestBid: (price: FixedDecimal, qty: FixedDecimal)?, bestAsk: (price: FixedDecimal, qty: FixedDecimal)?,
        lastPrice: FixedDecimal?, volume24h: FixedDecimal, referencePrice: FixedDecimal?, timestampMs: Int64
    ) {
        self.instrument = instrument
        self.bestBid = bestBid
        self.bestAsk = bestAsk
        self.lastPrice = lastPrice
        self.volume24h = volume24h
        self.referencePrice = referencePrice
        self.timestampMs = timestampMs
    }

    public static func == (lhs: Ticker, rhs: Ticker) -> Bool {
        lhs.instrument == rhs.instrument && lhs.bestBid?.price == rhs.bestBid?.price && lhs.bestBid?.qty == rhs.bestBid?.qty
            && lhs.bestAsk?.price == rhs.bestAsk?.price && lhs.bestAsk?.qty == rhs.bestAsk?.qty && lhs.lastPrice == rhs.lastPrice
            && lhs.volume24h == rhs.volume24h && lhs.referencePrice == rhs.referencePrice && lhs.timestampMs == rhs.timestampMs
    }
}

/// Traded quantity per minute over a sliding day: O(1) per trade, at most 1440 buckets.
struct RollingVolume {
    static let windowMs: Int64 = 86_400_000
    static let bucketMs: Int64 = 60_000
    private var buckets: [(minute: Int64, qty: FixedDecimal)] = []
    private var head = 0
    private(set) var total = FixedDecimal.zero

    mutating func add(_ qty: FixedDecimal, atMs: Int64) {
        let minute = atMs / Self.bucketMs
        if let last = buckets.last, last.minute == minute {
            buckets[buckets.count - 1].qty += qty
        } else {
            buckets.append((minute, qty))
        }
        total += qty
        expire(atMs: atMs)
    }

    /// Drops buckets older than the window.
    mutating func expire(atMs: Int64) {
        let oldest = (atMs - Self.windowMs) / Self.bucketMs
        while head < buckets.count, buckets[head].minute <= oldest {
            total -= buckets[head].qty
            head += 1
        }
        if head > 64, head * 2 > buckets.count {
            buckets.removeFirst(head)
            head = 0
        }
    }
}

/// Last trade and volume per instrument, fed with the engine's trades (live and on replay).
struct TickerBoard {
    private var lastPrice: [String: FixedDecimal] = [:]
    private var volume: [String: RollingVolume] = [:]

    mutating func record(_ trade: Trade) {
        lastPrice[trade.instrument] = trade.price
        volume[trade.instrument, default: RollingVolume()].add(trade.qty, atMs: trade.timestampMs)
    }

    mutating func ticker(for symbol: String, engine: MatchingEngine, nowMs: Int64) -> Ticker {
        volume[symbol]?.expire(atMs: nowMs)
        let top = engine.snapshot(instrument: symbol, depth: 1)
        return Ticker(
            instrument: symbol, bestBid: top?.bids.first, bestAsk: top?.asks.first, lastPrice: lastPrice[symbol],
            volume24h: volume[symbol]?.total ?? .zero, referencePrice: engine.referencePrice(symbol), timestampMs: nowMs)
    }
}

/// The published view of each book when `book.*` is limited to the best `depth` levels per side.
///
/// The engine's deltas name every level an operation touched, at any depth. A client that keeps
/// only the best N levels could not fill the gap when a top level disappears (it never heard of
/// level N + 1). So with a depth limit the venue publishes the difference between the top-N views
/// before and after each operation instead: levels that entered the view come with their full
/// quantity, levels that left it with 0. Snapshot + these deltas reproduce the engine's top N.
struct BookDepthViews {
    let depth: Int?
    private var views: [String: (bids: [(price: FixedDecimal, qty: FixedDecimal)], asks: [(price: FixedDecimal, qty: FixedDecimal)])] = [:]

    init(depth: Int?) { self.depth = depth }

    /// Forgets the views and takes the engine's current books (after a replay).
    mutating func reset(from engine: MatchingEngine) {
        guard let depth else { return }
        views = [:]
        for instrument in engine.listInstruments {
            let snapshot = engine.snapshot(instrument: instrument.symbol, depth: depth)!
            views[instrument.symbol] = (snapshot.bids, snapshot.asks)
        }
    }

    /// Rewrites book deltas into differences of the top-`depth` view (same `seq`).
    mutating func filter(_ events: [EngineEvent], engine: MatchingEngine) -> [EngineEvent] {
        guard let depth else { return events }
        return events.map { event in
            guard case .bookDelta(let instrument, let seq, _) = event, let snapshot = engine.snapshot(instrument: instrument, depth: depth) else {
                return event
            }
            let old = views[instrument] ?? ([], [])
            views[instrument] = (snapshot.bids, snapshot.asks)
            let changes = Self.difference(old.bids, snapshot.bids, side: .buy) + Self.difference(old.asks, snapshot.asks, side: .sell)
            return .bookDelta(instrument: instrument, seq: seq, changes: changes)
        }
    }

    private static func difference(
        _ old: [(price: FixedDecimal, qty: FixedDecimal)], _ new: [(price: FixedDecimal, qty: FixedDecimal)], side: OrderSide
    ) -> [BookLevelChange] {
        var before: [FixedDecimal: FixedDecimal] = [:]
        for level in old { before[level.price] = level.qty }
        var changes: [BookLevelChange] = []
        for level in new where before[level.price] != level.qty {
            changes.append(BookLevelChange(side: side, price: level.price, qty: level.qty))
        }
        let now = Set(new.map(\.price))
        for level in old where !now.contains(level.price) {
            changes.append(BookLevelChange(side: side, price: level.price, qty: .zero))
        }
        return changes
    }
}
