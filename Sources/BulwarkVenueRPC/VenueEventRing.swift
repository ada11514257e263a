/// The venue's recent stream items, numbered 1, 2, 3, … in publication order, so that a gateway
/// that lost its stream can resume after the last sequence it saw instead of starting over.
///
/// Bounded: it holds the last `capacity` items. A subscriber asking for items that already fell
/// out of it (or for a sequence the ring never issued) gets `.gap` and must start from a fresh
/// state instead. Pure and not thread-safe: `VenueEventBroadcaster` guards it with a lock.
struct VenueEventRing<Item> {
    enum Replay {
        /// Everything after the requested sequence, oldest first (empty: nothing was missed).
        case items([Item])
        /// The requested position is no longer (or never was) covered.
        case gap
    }

    let capacity: Int
    /// The sequence of the newest item (0: none yet).
    private(set) var lastSeq: UInt64 = 0
    private var storage: [Item] = []
    /// Index in `storage` of the oldest item once the ring is full.
    private var head = 0

    init(capacity: Int) {
        precondition(capacity > 0, "a ring holds at least one item")
        self.capacity = capacity
        storage.reserveCapacity(min(capacity, 4096))
    }

    /// The sequence of the oldest item held (lastSeq + 1 when empty).
    var firstSeq: UInt64 { lastSeq + 1 - UInt64(storage.count) }

    var count: Int { storage.count }

    /// Stores `item` as the next sequence, forgetting the oldest one when full; returns its sequence.
    mutating func append(_ item: Item) -> UInt64 {
        lastSeq += 1
        if storage.count < capacity {
            storage.append(item)
        } else {
            storage[head] = item
            head = (head + 1) % capacity
        }
        return lastSeq
    }

    /// The items after `seq`.
    func since(_ seq: UInt64) -> Replay {
        guard seq <= lastSeq else { return .gap }
        if seq == lastSeq { return .items([]) }
        guard seq + 1 >= firstSeq else { return .gap }
        let skip = Int(seq + 1 - firstSeq)
        var items: [Item] = []
        items.reserveCapacity(storage.count - skip)
        for offset in skip..<storage.count { items.append(storage[(head + offset) % storage.count]) }
        return .items(items)
    }
}
