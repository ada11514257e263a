import BulwarkCore
import NIOCore
import NIOWebSocket

/// Receives complete, validated messages from a `WebSocketConnectionHandler`.
protocol WebSocketMessageSink: AnyObject {
    /// A complete text message (UTF-8 already validated). Called on the event loop.
    func received(text: [UInt8])
    /// A complete binary message; only delivered when the endpoint's `FrameLimits.acceptsBinary`.
    func received(binary: ByteBuffer)
    /// The connection is gone (either side closed, or it failed).
    func connectionClosed()
}

extension WebSocketMessageSink {
    func received(binary: ByteBuffer) {}
}

/// How often the server pings, and how long it waits for the pong.
struct KeepalivePolicy: Sendable {
    var interval: TimeAmount
    var pongTimeout: TimeAmount

    init(_ limits: ConnectionLimits) {
        interval = .milliseconds(limits.pingIntervalMs)
        pongTimeout = .milliseconds(limits.pongTimeoutMs)
    }
}

/// The RFC 6455 layer after NIO's frame decoder: it applies `InboundFrameRules`, answers pings,
/// keeps the connection alive, runs the close handshake and hands whole messages to its sink.
///
/// Everything that violates the protocol closes the connection with the close code RFC 6455 and
/// PROTOCOL.md §8 give for it. Closing always goes through the close handshake (our close frame,
/// then the peer's, or a timeout): the socket keeps being read meanwhile, so the peer never gets a
/// TCP reset that could swallow our close frame.
final class WebSocketConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private enum Phase {
        case open
        /// We sent a close frame and wait for the peer's (or the timeout).
        case closeSent
        case closed
    }

    private enum Keepalive {
        case idle
        case awaitingPong(timeout: Scheduled<Void>)
    }

    private var rules: InboundFrameRules
    private let keepalivePolicy: KeepalivePolicy
    private let metrics: GatewayMetrics
    /// Strong on purpose: the sink lives as long as the connection; released when it closes.
    private var sink: (any WebSocketMessageSink)?
    private var phase = Phase.open
    private var keepalive = Keepalive.idle
    private var pingTask: RepeatedTask?
    private var closeTimeout: Scheduled<Void>?
    /// Set while the handler is in the pipeline; used by `ConnectionOutbound` after hopping here.
    private var context: ChannelHandlerContext?
    /// Flush coalescing: messages written while a read burst is being handled (the echo, answers
    /// produced synchronously) are flushed once in `channelReadComplete`; messages written from
    /// elsewhere (RPC answers from the connection's actor) share one flush task per loop turn.
    /// Each flush is a TLS record and a write(2), so this is where pipelined traffic saves most.
    private var flush = FlushState.idle

    enum FlushState {
        case idle
        /// Inside channelRead...channelReadComplete; `pending` when something was written.
        case reading(pending: Bool)
        /// A flush task is queued on the event loop.
        case scheduled
    }

    /// How long we wait for the peer's close frame after sending ours.
    static let closeHandshakeTimeout = TimeAmount.seconds(2)

    init(limits: FrameLimits, keepalive: KeepalivePolicy, metrics: GatewayMetrics, sink: any WebSocketMessageSink) {
        self.rules = InboundFrameRules(limits: limits)
        self.keepalivePolicy = keepalive
        self.metrics = metrics
        self.sink = sink
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        metrics.connections.open.add(1, ordering: .relaxed)
        let interval = keepalivePolicy.interval
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        pingTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (handler, context) = loopBound.value
            handler.sendPing(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    /// Idempotent teardown: timers off, the phase gauge settled, the sink told once.
    private func finish() {
        pingTask?.cancel()
        closeTimeout?.cancel()
        if case .awaitingPong(let timeout) = keepalive { timeout.cancel() }
        keepalive = .idle
        enter(.closed)
        sink?.connectionClosed()
        sink = nil
    }

    private func enter(_ next: Phase) {
        switch (phase, next) {
        case (.open, .closeSent):
            metrics.connections.open.subtract(1, ordering: .relaxed)
            metrics.connections.closing.add(1, ordering: .relaxed)
        case (.open, .closed):
            metrics.connections.open.subtract(1, ordering: .relaxed)
        case (.closeSent, .closed):
            metrics.connections.closing.subtract(1, ordering: .relaxed)
        default:
            return
        }
        phase = next
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .idle = flush { flush = .reading(pending: false) }
        let frame = unwrapInboundIn(data)
        metrics.frames.received.add(1, ordering: .relaxed)
        guard case .open = phase else {
            // After our close frame only the peer's close matters.
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        }
        switch rules.accept(frame) {
        case .message(.text, let payload):
            sink?.received(text: Array(payload.readableBytesView))
        case .message(.binary, let payload):
            sink?.received(binary: payload)
        case .fragmentAccepted:
            break
        case .ping(let payload):
            send(context, WebSocketFrame(fin: true, opcode: .pong, data: payload))
            requestFlush(context)
        case .pong:
            if case .awaitingPong(let timeout) = keepalive { timeout.cancel() }
            keepalive = .idle
        case .close(let answer, let received):
            answerClose(context: context, answer: answer, received: received)
        case .fail(let code, let reason):
            close(code: code, reason: reason)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .reading(let pending) = flush {
            flush = .idle
            if pending { context.flush() }
        }
        context.fireChannelReadComplete()
    }

    /// Flushes what was written: at the end of the current read burst, or in one task per loop turn.
    private func requestFlush(_ context: ChannelHandlerContext) {
        switch flush {
        case .reading:
            flush = .reading(pending: true)
        case .scheduled:
            break
        case .idle:
            flush = .scheduled
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.execute {
                let (handler, context) = loopBound.value
                if case .scheduled = handler.flush { handler.flush = .idle }
                context.flush()
            }
        }
    }

    /// NIO's frame decoder reports frames over the size cap and malformed control frames as errors
    /// (automatic error handling is off so that these closes are counted like every other).
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let error as NIOWebSocketError:
            close(code: error == .invalidFrameLength ? .messageTooBig : .protocolError, reason: "\(error)")
        case is ByteToMessageDecoderError:
            break  // bytes after a decoder error: the close handshake is already under way
        default:
            context.close(promise: nil)
        }
    }

    // MARK: Sending and closing

    /// Sends one text message; a no-op once closing. Must run on the event loop.
    func sendText(_ bytes: [UInt8]) {
        guard case .open = phase, let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        send(context, WebSocketFrame(fin: true, opcode: .text, data: buffer))
        requestFlush(context)
    }

    /// Sends one binary message (a sealed frame); a no-op once closing. Must run on the event loop.
    func sendBinary(_ bytes: [UInt8]) {
        guard case .open = phase, let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        send(context, WebSocketFrame(fin: true, opcode: .binary, data: buffer))
        requestFlush(context)
    }

    /// Sends one message of either kind (the conformance echo). Must run on the event loop.
    func send(_ kind: InboundFrameRules.MessageKind, _ payload: ByteBuffer) {
        guard case .open = phase, let context else { return }
        send(context, WebSocketFrame(fin: true, opcode: kind == .text ? .text : .binary, data: payload))
        requestFlush(context)
    }

    private func send(_ context: ChannelHandlerContext, _ frame: WebSocketFrame) {
        metrics.frames.sent.add(1, ordering: .relaxed)
        context.write(wrapOutboundOut(frame), promise: nil)
    }

    /// Starts the close handshake; the TCP connection closes when the peer answers or after a timeout.
    /// Must run on the event loop.
    func close(code: CloseCode, reason: String = "") {
        guard case .open = phase, let context else { return }
        enter(.closeSent)
        metrics.closes.record(code: code.rawValue, by: .server)
        var buffer = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        buffer.writeInteger(code.rawValue)
        // A close reason is at most 123 bytes; cut on a character boundary so it stays UTF-8.
        var cut = ""
        for character in reason where cut.utf8.count + character.utf8.count <= 123 { cut.append(character) }
        buffer.writeString(cut)
        send(context, WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer))
        context.flush()
        let channel = context.channel
        closeTimeout = context.eventLoop.scheduleTask(in: Self.closeHandshakeTimeout) { channel.close(promise: nil) }
    }

    private func answerClose(context: ChannelHandlerContext, answer: UInt16, received: UInt16?) {
        enter(.closeSent)
        metrics.closes.record(code: received ?? 1005, by: .client)
        var buffer = context.channel.allocator.buffer(capacity: 2)
        buffer.writeInteger(answer)
        let channel = context.channel
        metrics.frames.sent.add(1, ordering: .relaxed)
        // The server closes TCP first (§7.1.1), right after its close frame is written.
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)))
            .whenComplete { _ in channel.close(promise: nil) }
    }

    // MARK: Keepalive

    private func sendPing(context: ChannelHandlerContext) {
        guard case .open = phase, case .idle = keepalive else { return }
        let channel = context.channel
        // A peer silent past the pong timeout is gone: there is nobody to send a close frame to.
        let timeout = context.eventLoop.scheduleTask(in: keepalivePolicy.pongTimeout) { [metrics] in
            metrics.keepaliveTimeouts.add(1, ordering: .relaxed)
            channel.close(promise: nil)
        }
        keepalive = .awaitingPong(timeout: timeout)
        send(context, WebSocketFrame(fin: true, opcode: .ping, data: context.channel.allocator.buffer(capacity: 0)))
        context.flush()
    }
}
