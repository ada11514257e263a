import BulwarkCore
import NIOCore
import Synchronization

/// Delivers channel notifications to subscribers.
///
/// Subscriptions are indexed per topic and per event loop. A published message is serialized and
/// framed once into one buffer; each event loop with subscribers gets one task that hands the same
/// buffer to every subscriber's `OutboundQueueHandler` and then flushes each once. The queues are
/// bounded in bytes and decide what a slow consumer loses (see `SubscriberQueue`).
///
/// Each topic keeps its own `seq`, so a subscriber sees consecutive numbers from the moment it
/// subscribed, and a gap when public data was dropped for it.
public final class FanoutHub: Sendable {
    /// One connection's end of the hub: its event loop and its outbound queue.
    public struct Subscriber: Sendable {
        public let connectionID: String
        let eventLoop: any EventLoop
        let queue: OutboundQueueHandler.LoopBound

        init(connectionID: String, eventLoop: any EventLoop, queue: OutboundQueueHandler.LoopBound) {
            self.connectionID = connectionID
            self.eventLoop = eventLoop
            self.queue = queue
        }
    }

    /// What a slow consumer may lose on a topic.
    public enum Delivery: Sendable {
        /// Public data: dropped for a subscriber whose queue is full; the seq gap tells the client.
        case droppable
        /// Book deltas: after a drop the topic's deltas are conflated into a fresh snapshot.
        case conflated
        /// Private data: never dropped; a subscriber that cannot take it is closed with 4004.
        case reliable

        func deliveryClass(topic: String) -> DeliveryClass {
            switch self {
            case .droppable: .droppable(topic: topic)
            case .conflated: .conflated(topic: topic)
            case .reliable: .reliable
            }
        }
    }

    /// The subscribers of one topic on one event loop.
    private struct Shard {
        let loop: any EventLoop
        var members: [Subscriber] = []
        var positions: [String: Int] = [:]

        mutating func insert(_ subscriber: Subscriber) {
            if let position = positions[subscriber.connectionID] {
                members[position] = subscriber
            } else {
                positions[subscriber.connectionID] = members.count
                members.append(subscriber)
            }
        }

        mutating func remove(_ connectionID: String) -> Subscriber? {
            guard let position = positions.removeValue(forKey: connectionID) else { return nil }
            let removed = members[position]
            let last = members.removeLast()
            if position < members.count {
                members[position] = last
                positions[last.connectionID] = position
            }
            return removed
        }
    }

    private struct Topic {
        var seq: UInt64 = 0
        var shards: [ObjectIdentifier: Shard] = [:]

        var subscriberCount: Int { shards.values.reduce(0) { $0 + $1.members.count } }
    }

    private let topics = Mutex<[String: Topic]>([:])

    public init() {}

    /// Registers a subscriber and returns the topic's current seq (the last one published).
    @discardableResult
    public func subscribe(topic: String, _ subscriber: Subscriber) -> UInt64 {
        topics.withLock { topics in
            let loopID = ObjectIdentifier(subscriber.eventLoop)
            topics[topic, default: Topic()].shards[loopID, default: Shard(loop: subscriber.eventLoop)].insert(subscriber)
            return topics[topic]!.seq
        }
    }

    public func unsubscribe(topic: String, connectionID: String) {
        unsubscribeAll(connectionID: connectionID, topics: [topic])
    }

    public func unsubscribeAll(connectionID: String, topics names: some Sequence<String>) {
        let removed = topics.withLock { topics -> [(String, Subscriber)] in
            var removed: [(String, Subscriber)] = []
            for name in names {
                guard var topic = topics[name] else { continue }
                for loopID in Array(topic.shards.keys) {
                    if let subscriber = topic.shards[loopID]!.remove(connectionID) { removed.append((name, subscriber)) }
                    if topic.shards[loopID]!.members.isEmpty { topic.shards.removeValue(forKey: loopID) }
                }
                // A topic's seq must survive while it has a history; an unused, never-published one goes.
                if topic.shards.isEmpty && topic.seq == 0 { topics.removeValue(forKey: name) } else { topics[name] = topic }
            }
            return removed
        }
        for (name, subscriber) in removed {
            subscriber.eventLoop.execute { subscriber.queue.value.forget(topic: name) }
        }
    }

    /// The seq of the topic's last notification (0 before the first).
    func currentSeq(topic: String) -> UInt64 { topics.withLock { $0[topic]?.seq ?? 0 } }

    public func subscriberCount(topic: String) -> Int { topics.withLock { $0[topic]?.subscriberCount ?? 0 } }

    /// Subscriptions on this node, over all topics (a metrics gauge).
    public var subscriptionCount: Int { topics.withLock { $0.values.reduce(0) { $0 + $1.subscriberCount } } }

    func isSubscribed(topic: String, connectionID: String) -> Bool {
        topics.withLock { topics in
            topics[topic]?.shards.values.contains { $0.positions[connectionID] != nil } ?? false
        }
    }

    /// Publishes one notification on `topic`, shown to clients as `channel`.
    ///
    /// - Parameters:
    ///   - explicitSeq: the seq to stamp (book topics use the engine's book sequence so snapshots and
    ///     deltas line up); nil takes the topic's next seq.
    ///   - privateSeq: the account-wide `private_seq` of a private event (kept for resume).
    ///   - writeData: writes the `data` member's value.
    /// - Returns: the encoded notification when it was encoded (there were subscribers, or it
    ///   carries a `private_seq` and must be kept for replay).
    @discardableResult
    public func publish(
        topic: String, channel: String, explicitSeq: UInt64? = nil, prevSeq: UInt64? = nil, privateSeq: UInt64? = nil,
        delivery: Delivery, writeData: (inout JSONWriter) -> Void
    ) -> [UInt8]? {
        let (seq, shards) = topics.withLock { topics -> (UInt64, [Shard]) in
            var state = topics[topic, default: Topic()]
            state.seq = explicitSeq ?? (state.seq + 1)
            topics[topic] = state
            return (state.seq, Array(state.shards.values))
        }
        guard !shards.isEmpty || privateSeq != nil else { return nil }
        let bytes = Notification.subscription(channel: channel, seq: seq, prevSeq: prevSeq, privateSeq: privateSeq, writeData: writeData)
        guard !shards.isEmpty else { return bytes }
        let frame = ServerFrame.text(bytes)
        let deliveryClass = delivery.deliveryClass(topic: topic)
        for shard in shards {
            let members = shard.members
            shard.loop.execute {
                for member in members { member.queue.value.enqueue(preframed: frame, delivery: deliveryClass) }
                for member in members { member.queue.value.flushBatch() }
            }
        }
        return bytes
    }

    /// Sends already-encoded notification bytes to one subscriber (a snapshot on subscribe or after
    /// drops). Called in the venue's serial order, like `publish`, so it stays ordered with deltas.
    func send(_ bytes: [UInt8], to subscriber: Subscriber, delivery: DeliveryClass) {
        let frame = ServerFrame.text(bytes)
        subscriber.eventLoop.execute {
            subscriber.queue.value.enqueue(preframed: frame, delivery: delivery)
            subscriber.queue.value.flushBatch()
        }
    }
}

/// Server-to-client notifications (PROTOCOL.md §2, §7).
public enum Notification {
    public static func subscription(
        channel: String, seq: UInt64, prevSeq: UInt64?, privateSeq: UInt64? = nil, writeData: (inout JSONWriter) -> Void
    ) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("jsonrpc")
        writer.string("2.0")
        writer.key("method")
        writer.string("subscription")
        writer.key("params")
        writer.beginObject()
        writer.key("channel")
        writer.string(channel)
        writer.key("seq")
        writer.uint(seq)
        if let prevSeq {
            writer.key("prev_seq")
            writer.uint(prevSeq)
        }
        if let privateSeq {
            writer.key("private_seq")
            writer.uint(privateSeq)
        }
        writer.key("data")
        writeData(&writer)
        writer.endObject()
        writer.endObject()
        return writer.bytes
    }

    /// A top-level notification such as `hello`, `session.terminated` or `server.shutdown`.
    public static func method(_ name: String, writeParams: (inout JSONWriter) -> Void) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("jsonrpc")
        writer.string("2.0")
        writer.key("method")
        writer.string(name)
        writer.key("params")
        writeParams(&writer)
        writer.endObject()
        return writer.bytes
    }
}
