import BulwarkCore
import NIOCore
import NIOWebSocket

/// The numbers one endpoint's frame pipeline enforces.
struct FrameLimits: Sendable, Equatable {
    var maxFrameBytes: Int
    var maxMessageBytes: Int
    var maxFragments: Int
    /// Binary data messages are delivered (sealed frames on `/ws/v1`, PROTOCOL.md §5; any data on
    /// the conformance echo) or closed with 1003.
    var acceptsBinary: Bool

    init(maxFrameBytes: Int, maxMessageBytes: Int, maxFragments: Int, acceptsBinary: Bool) {
        self.maxFrameBytes = maxFrameBytes
        self.maxMessageBytes = maxMessageBytes
        self.maxFragments = maxFragments
        self.acceptsBinary = acceptsBinary
    }

    init(_ limits: ConnectionLimits) {
        self.init(
            maxFrameBytes: limits.maxFrameBytes, maxMessageBytes: limits.maxMessageBytes, maxFragments: limits.maxFragments,
            acceptsBinary: true)
    }

    /// The conformance echo's raised limits: large enough for the Autobahn catalogue's biggest
    /// cases (16 MiB messages; 4 MiB split into 64-byte fragments).
    static let conformanceEcho = FrameLimits(
        maxFrameBytes: 16 << 20, maxMessageBytes: 16 << 20, maxFragments: 1 << 17, acceptsBinary: true)
}

/// RFC 6455's rules for the frames a client sends, as a pure state machine: masking, reserved bits,
/// opcodes, control-frame rules, fragmentation, sizes and UTF-8. It decides; the channel handler
/// does the I/O. Every rule that fails names the close code PROTOCOL.md §8 gives it.
struct InboundFrameRules {
    enum MessageKind: Equatable, Sendable {
        case text
        case binary
    }

    enum Verdict {
        /// A complete data message (text already validated as UTF-8).
        case message(MessageKind, ByteBuffer)
        /// A fragment was accepted; the message continues.
        case fragmentAccepted
        case ping(ByteBuffer)
        case pong
        /// The peer's close frame; `answer` is the code to send back.
        case close(answer: UInt16, received: UInt16?)
        case fail(CloseCode, String)
    }

    private enum Assembly {
        case idle
        case receiving(MessageKind, ByteBuffer, fragments: Int, utf8: UTF8StreamValidator)
    }

    let limits: FrameLimits
    private var assembly = Assembly.idle

    init(limits: FrameLimits) { self.limits = limits }

    /// True while a fragmented message is being reassembled.
    var isInsideMessage: Bool {
        if case .receiving = assembly { return true }
        return false
    }

    mutating func accept(_ frame: WebSocketFrame) -> Verdict {
        // Clients must mask every frame (§5.1); no extension is negotiated, so RSV must be 0 (§5.2).
        guard frame.maskKey != nil else { return .fail(.protocolError, "unmasked frame") }
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else { return .fail(.protocolError, "reserved bits set") }
        // The decoder enforces its own cap before buffering; this one holds when the decoder's cap is
        // raised for the conformance echo on the same listener.
        guard frame.length <= limits.maxFrameBytes else { return .fail(.messageTooBig, "frame too big") }
        switch frame.opcode {
        case .ping, .pong, .connectionClose:
            // Control frames are never fragmented and carry at most 125 bytes (§5.5); NIO's decoder
            // already refuses both, checked again so these rules stand on their own.
            guard frame.fin, frame.length <= 125 else { return .fail(.protocolError, "invalid control frame") }
            switch frame.opcode {
            case .ping: return .ping(frame.unmaskedData)
            case .pong: return .pong
            default: return Self.peerClose(frame.unmaskedData)
            }
        case .text:
            return startMessage(.text, frame)
        case .binary:
            guard limits.acceptsBinary else {
                return isInsideMessage ? .fail(.protocolError, "new message inside a fragmented one") : .fail(.unsupportedData, "binary frames are not supported")
            }
            return startMessage(.binary, frame)
        case .continuation:
            return continueMessage(frame)
        default:
            return .fail(.protocolError, "unknown opcode")
        }
    }

    private mutating func startMessage(_ kind: MessageKind, _ frame: WebSocketFrame) -> Verdict {
        guard case .idle = assembly else { return .fail(.protocolError, "new message inside a fragmented one") }
        guard frame.length <= limits.maxMessageBytes else { return .fail(.messageTooBig, "message too big") }
        let payload = frame.unmaskedData
        if frame.fin {
            if kind == .text && String(validating: payload.readableBytesView, as: UTF8.self) == nil {
                return .fail(.invalidPayload, "invalid UTF-8")
            }
            return .message(kind, payload)
        }
        var utf8 = UTF8StreamValidator()
        if kind == .text && !utf8.feed(payload.readableBytesView) { return .fail(.invalidPayload, "invalid UTF-8") }
        assembly = .receiving(kind, payload, fragments: 1, utf8: utf8)
        return .fragmentAccepted
    }

    private mutating func continueMessage(_ frame: WebSocketFrame) -> Verdict {
        guard case .receiving(let kind, var buffer, let fragments, var utf8) = assembly else {
            return .fail(.protocolError, "continuation without a message")
        }
        // Both limits are checked before appending, so the excess is never buffered.
        guard fragments + 1 <= limits.maxFragments else { return .fail(.messageTooBig, "too many fragments") }
        guard buffer.readableBytes + frame.length <= limits.maxMessageBytes else { return .fail(.messageTooBig, "message too big") }
        var payload = frame.unmaskedData
        if kind == .text && !utf8.feed(payload.readableBytesView) { return .fail(.invalidPayload, "invalid UTF-8") }
        assembly = .idle  // drop our reference first so the append does not copy the buffer
        buffer.writeBuffer(&payload)
        guard frame.fin else {
            assembly = .receiving(kind, buffer, fragments: fragments + 1, utf8: utf8)
            return .fragmentAccepted
        }
        if kind == .text && !utf8.isAtBoundary { return .fail(.invalidPayload, "invalid UTF-8") }
        return .message(kind, buffer)
    }

    /// The answer to a peer's close frame (§5.5.1, §7.4): an empty body is answered with 1000, a
    /// 1-byte body or a code a peer may not send with 1002, a reason that is not UTF-8 with 1007;
    /// otherwise the peer's code is echoed.
    static func peerClose(_ payload: ByteBuffer) -> Verdict {
        var payload = payload
        switch payload.readableBytes {
        case 0:
            return .close(answer: CloseCode.normal.rawValue, received: nil)
        case 1:
            return .close(answer: CloseCode.protocolError.rawValue, received: nil)
        default:
            let code = payload.readInteger(as: UInt16.self)!
            guard isValidReceivedCloseCode(code) else { return .close(answer: CloseCode.protocolError.rawValue, received: code) }
            guard UTF8StreamValidator.isValid(payload.readableBytesView) else {
                return .close(answer: CloseCode.invalidPayload.rawValue, received: code)
            }
            return .close(answer: code, received: code)
        }
    }

    /// Close codes a peer may send (RFC 6455 §7.4): 1000-1003, 1007-1011, 3000-4999. 1004-1006 and
    /// 1015 are reserved, the rest of 0-2999 unassigned by RFC 6455 (the Autobahn catalogue's view).
    static func isValidReceivedCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1011, 3000...4999: true
        default: false
        }
    }
}
