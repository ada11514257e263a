import NIOCore

/// How an outbound message may be treated when its connection reads slower than it is written to.
enum DeliveryClass: Sendable, Equatable {
    /// RPC responses, control frames and private channels: never dropped. When they cannot fit in
    /// the queue even after shedding public data, the connection is closed with 4004 instead.
    case reliable
    /// Public data where a gap is acceptable and visible through `seq` (trades): dropped when full.
    case droppable(topic: String)
    /// Book deltas: once one is dropped, the topic's later deltas are useless, so all of them are
    /// dropped (conflated) until a fresh snapshot for the topic goes out.
    case conflated(topic: String)
    /// A book snapshot; it ends a conflation episode for its topic.
    case snapshot(topic: String)
}

/// One connection's outbound queue, bounded in bytes: the pure decisions of `OutboundQueueHandler`.
///
/// Messages are written straight to the socket while it is writable and nothing waits; otherwise
/// they queue, in order, up to `limit` bytes. Beyond the limit public data is dropped (and queued
/// public data is shed to make room for reliable data); reliable data that still does not fit
/// overflows the queue, which ends the connection (4004).
struct SubscriberQueue {
    struct Entry {
        var bytes: ByteBuffer
        var delivery: DeliveryClass
        var promise: EventLoopPromise<Void>?
        /// A pre-framed fan-out message (counted as a frame when written); pipeline writes are
        /// counted by the WebSocket handler instead.
        var isPreframed: Bool
    }

    enum Outcome {
        /// Write this entry to the socket now.
        case write(Entry)
        case queued
        /// Not delivered: public data that did not fit, or a stale book's delta.
        case dropped
        /// Reliable data did not fit: the connection must close with 4004. These entries were
        /// discarded (their promises must be failed).
        case overflow(discarded: [Entry])
    }

    let limit: Int
    /// Small at first: the queue holds entries only while the socket is not writable, so an idle
    /// connection should not carry the default 16 slots (about 2 KB each connection); it grows
    /// as needed.
    private var entries = CircularBuffer<Entry>(initialCapacity: 2)
    private(set) var queuedBytes = 0
    private(set) var isOverflowed = false
    /// Book topics whose deltas are being dropped until a snapshot arrives.
    private(set) var staleTopics = Set<String>()
    private var resyncRequested = Set<String>()
    /// Drops since the last time the queue was empty; the first one starts a slow-consumer episode.
    private var dropsInEpisode = 0
    /// Counters the handler moves into the process metrics.
    private(set) var droppedTotal = 0
    private(set) var episodesTotal = 0

    init(limit: Int) { self.limit = limit }

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    mutating func offer(_ entry: Entry, socketWritable: Bool) -> Outcome {
        if isOverflowed {
            // Only the close frame that follows an overflow is still written.
            return entry.delivery == .reliable ? .write(entry) : .dropped
        }
        switch entry.delivery {
        case .conflated(let topic) where staleTopics.contains(topic):
            return drop()
        case .snapshot(let topic):
            staleTopics.remove(topic)
            resyncRequested.remove(topic)
        default:
            break
        }
        if entries.isEmpty && socketWritable { return .write(entry) }
        let size = entry.bytes.readableBytes
        if queuedBytes + size <= limit { return enqueue(entry) }
        switch entry.delivery {
        case .droppable:
            return drop()
        case .conflated(let topic), .snapshot(let topic):
            staleTopics.insert(topic)
            return drop()
        case .reliable:
            shedPublicData()
            if queuedBytes + size <= limit { return enqueue(entry) }
            isOverflowed = true
            let discarded = Array(entries) + [entry]
            entries.removeAll()
            queuedBytes = 0
            return .overflow(discarded: discarded)
        }
    }

    /// The next entry to write, once the socket is writable again.
    mutating func next() -> Entry? {
        guard let entry = entries.popFirst() else { return nil }
        queuedBytes -= entry.bytes.readableBytes
        if entries.isEmpty { dropsInEpisode = 0 }
        return entry
    }

    /// Stale book topics that need a fresh snapshot, each reported once, and only when the queue has
    /// drained: a consumer that is still behind would drop the snapshot too.
    mutating func topicsNeedingSnapshot() -> [String] {
        guard entries.isEmpty, !isOverflowed else { return [] }
        let due = staleTopics.subtracting(resyncRequested)
        resyncRequested.formUnion(due)
        return due.sorted()
    }

    /// The subscriber left a topic: forget its conflation state.
    mutating func forget(topic: String) {
        staleTopics.remove(topic)
        resyncRequested.remove(topic)
    }

    private mutating func enqueue(_ entry: Entry) -> Outcome {
        entries.append(entry)
        queuedBytes += entry.bytes.readableBytes
        return .queued
    }

    private mutating func drop() -> Outcome {
        if dropsInEpisode == 0 { episodesTotal += 1 }
        dropsInEpisode += 1
        droppedTotal += 1
        return .dropped
    }

    /// Reliable data must not wait behind public data that may be dropped anyway: shed all queued
    /// public messages, marking their book topics stale.
    private mutating func shedPublicData() {
        var kept = CircularBuffer<Entry>(initialCapacity: entries.count)
        for entry in entries {
            switch entry.delivery {
            case .reliable:
                kept.append(entry)
                continue
            case .conflated(let topic), .snapshot(let topic):
                staleTopics.insert(topic)
            case .droppable:
                break
            }
            queuedBytes -= entry.bytes.readableBytes
            _ = drop()
        }
        entries = kept
    }
}
