import BulwarkCore

/// An order book rebuilt from `book.<instrument>` (PROTOCOL.md §7): a snapshot replaces it, then each
/// delta sets absolute level quantities (`"0"` removes a level) and must carry `prev_seq` equal to
/// the last `seq` applied. A mismatch is a gap: the book is out of sync until the next snapshot
/// (the client resubscribes for one; the gateway also resends one after it conflated deltas).
public struct OrderBook: Sendable, Equatable {
    public let instrument: String
    public private(set) var bids: [FixedDecimal: FixedDecimal] = [:]
    public private(set) var asks: [FixedDecimal: FixedDecimal] = [:]
    /// The `seq` of the last snapshot or delta applied.
    public private(set) var seq: Int64?
    /// True from a snapshot until a gap.
    public private(set) var isSynced = false

    public enum Outcome: Equatable, Sendable {
        case applied
        /// A delta before the first snapshot (the snapshot follows): ignored.
        case ignored
        /// `prev_seq` did not match: the book needs a fresh snapshot.
        case gap(expectedPrevSeq: Int64?, got: Int64?)
        /// The data is not a book message (unparseable level): treated like a gap.
        case malformed
    }

    public init(instrument: String) { self.instrument = instrument }

    /// Applies one channel message's `data` with its `seq` and `prev_seq`.
    public mutating func apply(data: JSONObject, seq: Int64, prevSeq: Int64?) -> Outcome {
        let type = data["type"]?.stringValue
        if type == "snapshot" {
            guard let bids = Self.levels(data["bids"]), let asks = Self.levels(data["asks"]) else {
                isSynced = false
                return .malformed
            }
            self.bids = Dictionary(bids.filter { !$0.1.isZero }, uniquingKeysWith: { $1 })
            self.asks = Dictionary(asks.filter { !$0.1.isZero }, uniquingKeysWith: { $1 })
            self.seq = seq
            isSynced = true
            return .applied
        }
        guard isSynced else { return .ignored }
        guard type == "delta", let prevSeq, prevSeq == self.seq else {
            isSynced = false
            return .gap(expectedPrevSeq: self.seq, got: prevSeq)
        }
        guard let bidChanges = Self.levels(data["bids"] ?? .array([])), let askChanges = Self.levels(data["asks"] ?? .array([])) else {
            isSynced = false
            return .malformed
        }
        for (price, qty) in bidChanges { bids[price] = qty.isZero ? nil : qty }
        for (price, qty) in askChanges { asks[price] = qty.isZero ? nil : qty }
        self.seq = seq
        return .applied
    }

    /// Keep the levels but wait for a snapshot before applying deltas again (the connection dropped).
    public mutating func markStale() { isSynced = false }

    /// Forget everything (before a resubscribe).
    public mutating func reset() {
        bids = [:]
        asks = [:]
        seq = nil
        isSynced = false
    }

    public var bestBid: (price: FixedDecimal, qty: FixedDecimal)? { bids.max { $0.key < $1.key }.map { ($0.key, $0.value) } }
    public var bestAsk: (price: FixedDecimal, qty: FixedDecimal)? { asks.min { $0.key < $1.key }.map { ($0.key, $0.value) } }

    /// The best `depth` levels of a side, best first.
    public func levels(_ side: Side, depth: Int = 5) -> [(price: FixedDecimal, qty: FixedDecimal)] {
        let sorted = side == .buy ? bids.sorted { $0.key > $1.key } : asks.sorted { $0.key < $1.key }
        return sorted.prefix(depth).map { ($0.key, $0.value) }
    }

    private static func levels(_ value: JSONValue?) -> [(FixedDecimal, FixedDecimal)]? {
        guard let array = value?.arrayValue else { return nil }
        var result: [(FixedDecimal, FixedDecimal)] = []
        result.reserveCapacity(array.count)
        for level in array {
            guard let pair = level.arrayValue, pair.count == 2, let price = pair[0].stringValue.flatMap(FixedDecimal.init(parsing:)),
                let qty = pair[1].stringValue.flatMap(FixedDecimal.init(parsing:))
            else { return nil }
            result.append((price, qty))
        }
        return result
    }
}

/// An order's side.
public enum Side: String, Sendable {
    case buy
    case sell
}
