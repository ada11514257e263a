import BulwarkCore
import BulwarkVenue

/// A gateway's copy of one venue book, kept from the venue's stream: a snapshot, then every delta
/// in order. Holds the published view (the venue's `market.book_depth` levels), which is exactly
/// what snapshot + deltas describe, so a `book.*` subscriber registered on this gateway gets the
/// same snapshot the venue would have sent. Pure; `RemoteVenue` guards it with its lock.
struct BookMirror: Equatable {
    let instrument: String
    private(set) var seq: UInt64
    private var bids: [FixedDecimal: FixedDecimal] = [:]
    private var asks: [FixedDecimal: FixedDecimal] = [:]

    init(_ snapshot: BookSnapshot) {
        instrument = snapshot.instrument
        seq = snapshot.seq
        for level in snapshot.bids { bids[level.price] = level.qty }
        for level in snapshot.asks { asks[level.price] = level.qty }
    }

    /// Applies a delta (absolute quantities, zero removes the level). False, and nothing changes,
    /// when it does not follow the mirror's sequence.
    mutating func apply(seq newSeq: UInt64, changes: [BookLevelChange]) -> Bool {
        guard newSeq == seq + 1 else { return false }
        for change in changes {
            if change.qty.isZero {
                if change.side == .buy { bids[change.price] = nil } else { asks[change.price] = nil }
            } else if change.side == .buy {
                bids[change.price] = change.qty
            } else {
                asks[change.price] = change.qty
            }
        }
        seq = newSeq
        return true
    }

    var snapshot: BookSnapshot {
        BookSnapshot(
            instrument: instrument, seq: seq, bids: bids.sorted { $0.key > $1.key }.map { (price: $0.key, qty: $0.value) },
            asks: asks.sorted { $0.key < $1.key }.map { (price: $0.key, qty: $0.value) })
    }

    var bestBid: FixedDecimal? { bids.keys.max() }
    var bestAsk: FixedDecimal? { asks.keys.min() }
}
