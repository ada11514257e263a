import BulwarkCore
import NIOCore
import NIOWebSocket

/// Receives complete, validated text messages from a `WebSocketConnectionHandler`.
protocol WebSocketMessageSink: AnyObject {
    /// A complete text message (UTF-8 already validated). Called on the event loop.
    func received(text: [UInt8])
    /// A complete binary message: a sealed frame (PROTOCOL.md §5). Called on the event loop.
    func received(binary: [UInt8])
    /// The connection is gone (either side closed, or it failed).
    func connectionClosed()
}

/// The RFC 6455 layer after NIO's frame decoder: masking, RSV bits, fragmentation with limits,
/// UTF-8 of text messages, control frames, keepalive and the close handshake.
///
/// Only whole text and binary messages leave this handler; everything that violates the protocol closes the
/// connection with the close code RFC 6455 and PROTOCOL.md §8 give for it.
final class WebSocketConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private enum State {
        case open
        /// We sent a close frame and wait for the peer's (or the timeout).
        case closeSent
        case closed
    }

    private struct PartialMessage {
        var buffer: ByteBuffer
        var fragments: Int
        let isBinary: Bool
    }

    private let limits: ConnectionLimits
    /// Strong on purpose: the sink lives as long as the connection; released when it closes.
    private var sink: (any WebSocketMessageSink)?
    private var state = State.open
    private var partial: PartialMessage?
    private var pingTask: RepeatedTask?
    private var awaitingPongSinceNs: UInt64?
    private var closeTimeout: Scheduled<Void>?
    /// Set while the handler is in the pipeline; used by `ConnectionOutbound` after hopping here.
    private var context: ChannelHandlerContext?

    /// How long we wait for the peer's close frame after sending ours.
    static let closeHandshakeTimeout = TimeAmount.seconds(2)

    init(limits: ConnectionLimits, sink: any WebSocketMessageSink) {
        self.limits = limits
        self.sink = sink
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let interval = TimeAmount.milliseconds(limits.pingIntervalMs)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        pingTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (handler, context) = loopBound.value
            handler.keepalive(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        pingTask?.cancel()
        closeTimeout?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        pingTask?.cancel()
        closeTimeout?.cancel()
        sink?.connectionClosed()
        sink = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard case .open = state else {
            // After our close frame only the peer's close matters.
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        }
        // Clients must mask every frame (RFC 6455 §5.1); no extension is negotiated, so RSV must be 0.
        guard frame.maskKey != nil else { return fail(context, .protocolError, "unmasked frame") }
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else { return fail(context, .protocolError, "reserved bits set") }

        switch frame.opcode {
        case .text, .binary:
            guard partial == nil else { return fail(context, .protocolError, "new message inside a fragmented one") }
            startMessage(context: context, frame: frame)
        case .continuation:
            guard partial != nil else { return fail(context, .protocolError, "continuation without a message") }
            continueMessage(context: context, frame: frame)
        case .ping:
            var payload = frame.unmaskedData
            send(context, WebSocketFrame(fin: true, opcode: .pong, data: payload.readSlice(length: payload.readableBytes)!))
            context.flush()
        case .pong:
            awaitingPongSinceNs = nil
        case .connectionClose:
            receivedClose(context: context, frame: frame)
        default:
            fail(context, .protocolError, "unknown opcode")
        }
    }

    // MARK: Messages

    private func startMessage(context: ChannelHandlerContext, frame: WebSocketFrame) {
        let payload = frame.unmaskedData
        guard payload.readableBytes <= limits.maxMessageBytes else { return fail(context, .messageTooBig, "message too big") }
        let isBinary = frame.opcode == .binary
        if frame.fin {
            deliver(context: context, message: payload, isBinary: isBinary)
        } else {
            partial = PartialMessage(buffer: payload, fragments: 1, isBinary: isBinary)
        }
    }

    private func continueMessage(context: ChannelHandlerContext, frame: WebSocketFrame) {
        guard var message = partial else { return }
        var payload = frame.unmaskedData
        message.fragments += 1
        // Both checks happen before appending, so the excess is never buffered.
        guard message.fragments <= limits.maxFragments else { return fail(context, .messageTooBig, "too many fragments") }
        guard message.buffer.readableBytes + payload.readableBytes <= limits.maxMessageBytes else {
            return fail(context, .messageTooBig, "message too big")
        }
        message.buffer.writeBuffer(&payload)
        if frame.fin {
            partial = nil
            deliver(context: context, message: message.buffer, isBinary: message.isBinary)
        } else {
            partial = message
        }
    }

    private func deliver(context: ChannelHandlerContext, message: ByteBuffer, isBinary: Bool) {
        let bytes = message.readableBytesView
        // Binary messages are sealed frames: their integrity is checked by the connection.
        if isBinary { return sink?.received(binary: Array(bytes)) ?? () }
        // RFC 6455 §8.1: invalid UTF-8 in a text message fails the connection with 1007.
        guard String(validating: bytes, as: UTF8.self) != nil else {
            return fail(context, .invalidPayload, "invalid UTF-8")
        }
        sink?.received(text: Array(bytes))
    }

    // MARK: Sending and closing

    /// Sends one text message; a no-op once closing. Must run on the event loop.
    func sendText(_ bytes: [UInt8]) { sendMessage(bytes, opcode: .text) }

    /// Sends one binary message (a sealed frame); a no-op once closing. Must run on the event loop.
    func sendBinary(_ bytes: [UInt8]) { sendMessage(bytes, opcode: .binary) }

    private func sendMessage(_ bytes: [UInt8], opcode: WebSocketOpcode) {
        guard case .open = state, let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        send(context, WebSocketFrame(fin: true, opcode: opcode, data: buffer))
        context.flush()
    }

    private func send(_ context: ChannelHandlerContext, _ frame: WebSocketFrame) {
        context.write(wrapOutboundOut(frame), promise: nil)
    }

    /// Starts the close handshake; the TCP connection closes when the peer answers or after a timeout.
    /// Must run on the event loop.
    func close(code: CloseCode, reason: String = "") {
        guard case .open = state, let context else { return }
        state = .closeSent
        partial = nil
        var buffer = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        buffer.writeInteger(code.rawValue)
        buffer.writeString(String(reason.utf8.prefix(123)) ?? "")
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)), promise: nil)
        let channel = context.channel
        closeTimeout = context.eventLoop.scheduleTask(in: Self.closeHandshakeTimeout) { channel.close(promise: nil) }
    }

    private func fail(_ context: ChannelHandlerContext, _ code: CloseCode, _ reason: String) {
        close(code: code, reason: reason)
    }

    private func receivedClose(context: ChannelHandlerContext, frame: WebSocketFrame) {
        var payload = frame.unmaskedData
        var answer = CloseCode.normal.rawValue
        switch payload.readableBytes {
        case 0:
            break
        case 1:
            answer = CloseCode.protocolError.rawValue
        default:
            let code = payload.readInteger(as: UInt16.self)!
            if !Self.isValidReceivedCloseCode(code) {
                answer = CloseCode.protocolError.rawValue
            } else if String(validating: payload.readableBytesView, as: UTF8.self) == nil {
                answer = CloseCode.invalidPayload.rawValue
            } else {
                answer = code
            }
        }
        state = .closeSent
        var buffer = context.channel.allocator.buffer(capacity: 2)
        buffer.writeInteger(answer)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)))
            .whenComplete { _ in channel.close(promise: nil) }
    }

    /// Close codes a peer may send (RFC 6455 §7.4): 1000-1003, 1007-1011, 3000-4999.
    static func isValidReceivedCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1011, 3000...4999: true
        default: false
        }
    }

    // MARK: Keepalive

    private func keepalive(context: ChannelHandlerContext) {
        guard case .open = state else { return }
        let now = NIODeadline.now().uptimeNanoseconds
        if let since = awaitingPongSinceNs {
            // A peer that stays silent past the pong timeout is gone; there is nobody to send a close to.
            if now - since > UInt64(limits.pongTimeoutMs) * 1_000_000 { context.close(promise: nil) }
            return
        }
        awaitingPongSinceNs = now
        send(context, WebSocketFrame(fin: true, opcode: .ping, data: context.channel.allocator.buffer(capacity: 0)))
        context.flush()
    }
}

