import NIOCore

/// A connection's outbound queue at the wire: it sits between the TLS handler and the WebSocket
/// frame encoder, so it sees every byte the connection sends, whether framed by the encoder (RPC
/// responses, control frames) or pre-framed once by the fan-out hub for many subscribers.
///
///     TLS ─ OutboundQueueHandler ─ frame encoder/decoder ─ WebSocketConnectionHandler
///                 ▲ hub: enqueue(preframed:) on this connection's event loop
///
/// It writes through while the channel is writable (NIO's write-buffer water marks bound what sits
/// in the channel), queues in order otherwise, and applies `SubscriberQueue`'s rules when the queue
/// is full. It also counts the connection's wire bytes in both directions.
final class OutboundQueueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    typealias LoopBound = NIOLoopBound<OutboundQueueHandler>

    private var queue: SubscriberQueue
    private let metrics: GatewayMetrics
    private var context: ChannelHandlerContext?
    private var needsFlush = false
    /// What this connection currently adds to the process-wide queue gauges.
    private var reportedBytes = 0
    private var reportedMessages = 0
    private var reportedDrops = 0
    private var reportedEpisodes = 0

    /// Reliable data did not fit: close the connection with 4004 (set when the connection is wired).
    var onOverflow: (() -> Void)?
    /// Book topics that need a fresh snapshot after drops.
    var onResync: (([String]) -> Void)?

    init(limitBytes: Int, metrics: GatewayMetrics) {
        self.queue = SubscriberQueue(limit: limitBytes)
        self.metrics = metrics
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        while let entry = queue.next() { entry.promise?.fail(ChannelError.ioOnClosedChannel) }
        report()
        self.context = nil
    }

    // MARK: Pipeline traffic

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        metrics.bytes.received.add(unwrapInboundIn(data).readableBytes, ordering: .relaxed)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        offer(.init(bytes: unwrapOutboundIn(data), delivery: .reliable, promise: promise, isPreframed: false), context: context)
    }

    func flush(context: ChannelHandlerContext) {
        needsFlush = false
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        drain(context: context)
        context.fireChannelWritabilityChanged()
    }

    // MARK: Fan-out

    /// Offers one pre-framed message from the hub. Must run on the event loop; call `flushBatch`
    /// after the batch.
    func enqueue(preframed bytes: ByteBuffer, delivery: DeliveryClass) {
        guard let context else { return }
        offer(.init(bytes: bytes, delivery: delivery, promise: nil, isPreframed: true), context: context)
    }

    /// One flush per batch of fan-out writes.
    func flushBatch() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    /// The subscriber left a topic.
    func forget(topic: String) { queue.forget(topic: topic) }

    // MARK: Queueing

    private func offer(_ entry: SubscriberQueue.Entry, context: ChannelHandlerContext) {
        switch queue.offer(entry, socketWritable: context.channel.isWritable) {
        case .write(let entry):
            write(entry, context: context)
        case .queued:
            // The socket may have become writable since the last event; never leave a queue idle.
            drain(context: context)
        case .dropped:
            break
        case .overflow(let discarded):
            for entry in discarded { entry.promise?.fail(ChannelError.outputClosed) }
            metrics.slowConsumers.closes.add(1, ordering: .relaxed)
            onOverflow?()
        }
        report()
    }

    private func write(_ entry: SubscriberQueue.Entry, context: ChannelHandlerContext) {
        if entry.isPreframed { metrics.frames.sent.add(1, ordering: .relaxed) }
        metrics.bytes.sent.add(entry.bytes.readableBytes, ordering: .relaxed)
        context.write(wrapOutboundOut(entry.bytes), promise: entry.promise)
        needsFlush = true
    }

    private func drain(context: ChannelHandlerContext) {
        var wrote = false
        while context.channel.isWritable, let entry = queue.next() {
            write(entry, context: context)
            wrote = true
        }
        if wrote {
            needsFlush = false
            context.flush()
        }
        let stale = queue.topicsNeedingSnapshot()
        if !stale.isEmpty {
            metrics.slowConsumers.resyncs.add(stale.count, ordering: .relaxed)
            onResync?(stale)
        }
        report()
    }

    /// Moves this connection's changes into the process-wide gauges and counters.
    private func report() {
        let bytes = queue.queuedBytes
        let messages = queue.count
        if bytes != reportedBytes {
            metrics.outboundQueue.bytes.add(bytes - reportedBytes, ordering: .relaxed)
            metrics.outboundQueue.recordDepth(bytes)
            reportedBytes = bytes
        }
        if messages != reportedMessages {
            metrics.outboundQueue.messages.add(messages - reportedMessages, ordering: .relaxed)
            reportedMessages = messages
        }
        if queue.droppedTotal != reportedDrops {
            metrics.slowConsumers.droppedMessages.add(queue.droppedTotal - reportedDrops, ordering: .relaxed)
            reportedDrops = queue.droppedTotal
        }
        if queue.episodesTotal != reportedEpisodes {
            metrics.slowConsumers.events.add(queue.episodesTotal - reportedEpisodes, ordering: .relaxed)
            reportedEpisodes = queue.episodesTotal
        }
    }
}
