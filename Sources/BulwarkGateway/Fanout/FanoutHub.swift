import BulwarkCore
import NIOCore
import NIOWebSocket
import Synchronization

/// Delivers channel notifications to subscribers.
///
/// A published message is serialized once into one buffer; the same buffer is written to every
/// subscriber, grouped by event loop so each loop gets one task and one flush per subscriber per
/// batch. Each topic keeps its own `seq`, so a subscriber sees consecutive numbers from the moment
/// it subscribed and can detect gaps.
public final class FanoutHub: Sendable {
    public struct Subscriber: Sendable {
        public let connectionID: String
        public let channel: any Channel
        public init(connectionID: String, channel: any Channel) {
            self.connectionID = connectionID
            self.channel = channel
        }
    }

    /// Public market data may be skipped for a subscriber whose socket is not writable (the seq gap
    /// tells the client); private topics are always written.
    public enum Delivery: Sendable {
        case droppable
        case reliable
    }

    private struct Topic {
        var seq: UInt64 = 0
        var subscribers: [String: Subscriber] = [:]
    }

    private let topics = Mutex<[String: Topic]>([:])
    private let dropped = Atomic<Int>(0)

    public init() {}

    /// Registers a subscriber and returns the topic's current seq (the last one published).
    @discardableResult
    public func subscribe(topic: String, _ subscriber: Subscriber) -> UInt64 {
        topics.withLock { topics in
            topics[topic, default: Topic()].subscribers[subscriber.connectionID] = subscriber
            return topics[topic]!.seq
        }
    }

    public func unsubscribe(topic: String, connectionID: String) {
        topics.withLock { topics in
            topics[topic]?.subscribers.removeValue(forKey: connectionID)
            if topics[topic]?.subscribers.isEmpty == true && topics[topic]?.seq == 0 { topics.removeValue(forKey: topic) }
        }
    }

    public func unsubscribeAll(connectionID: String, topics names: some Sequence<String>) {
        topics.withLock { topics in
            for name in names { topics[name]?.subscribers.removeValue(forKey: connectionID) }
        }
    }

    public func subscriberCount(topic: String) -> Int { topics.withLock { $0[topic]?.subscribers.count ?? 0 } }

    public var droppedMessages: Int { dropped.load(ordering: .relaxed) }

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
        let (seq, subscribers) = topics.withLock { topics -> (UInt64, [Subscriber]) in
            var state = topics[topic, default: Topic()]
            state.seq = explicitSeq ?? (state.seq + 1)
            topics[topic] = state
            return (state.seq, Array(state.subscribers.values))
        }
        guard !subscribers.isEmpty || privateSeq != nil else { return nil }
        let bytes = Notification.subscription(channel: channel, seq: seq, prevSeq: prevSeq, privateSeq: privateSeq, writeData: writeData)
        if !subscribers.isEmpty { deliver(bytes, to: subscribers, delivery: delivery) }
        return bytes
    }

    /// Sends already-encoded notification bytes to one subscriber (a snapshot on subscribe).
    public static func send(_ bytes: [UInt8], to subscriber: Subscriber) {
        let channel = subscriber.channel
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        let frame = WebSocketFrame(fin: true, opcode: .text, data: buffer)
        channel.writeAndFlush(frame, promise: nil)
    }

    private func deliver(_ bytes: [UInt8], to subscribers: [Subscriber], delivery: Delivery) {
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        let frame = WebSocketFrame(fin: true, opcode: .text, data: buffer)
        var byLoop: [ObjectIdentifier: (any EventLoop, [any Channel])] = [:]
        for subscriber in subscribers {
            let loop = subscriber.channel.eventLoop
            byLoop[ObjectIdentifier(loop), default: (loop, [])].1.append(subscriber.channel)
        }
        for (loop, channels) in byLoop.values {
            loop.execute { [self] in
                var written: [any Channel] = []
                written.reserveCapacity(channels.count)
                for channel in channels {
                    if delivery == .droppable && !channel.isWritable {
                        self.dropped.add(1, ordering: .relaxed)
                        continue
                    }
                    channel.write(frame, promise: nil)
                    written.append(channel)
                }
                for channel in written { channel.flush() }
            }
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
