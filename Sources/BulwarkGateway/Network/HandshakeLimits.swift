import NIOCore

/// Counts the bytes and fields of an HTTP request's header block as it arrives, before the HTTP
/// parser buffers it, so an oversized handshake is refused early (431) and a header flood too (400).
struct HeaderBlockScanner {
    enum Verdict: Equatable {
        case incomplete
        /// The header block ended inside these bytes, after `consumed` of them.
        case complete(consumed: Int)
        case tooLarge
        case tooManyFields
    }

    let maxBytes: Int
    let maxFields: Int
    private var bytes = 0
    private var lines = 0
    private var lineLength = 0

    init(maxBytes: Int, maxFields: Int) {
        self.maxBytes = maxBytes
        self.maxFields = maxFields
    }

    mutating func scan(_ chunk: some Collection<UInt8>) -> Verdict {
        var consumed = 0
        for byte in chunk {
            consumed += 1
            bytes += 1
            guard bytes <= maxBytes else { return .tooLarge }
            switch byte {
            case UInt8(ascii: "\n"):
                if lineLength == 0 {
                    self = HeaderBlockScanner(maxBytes: maxBytes, maxFields: maxFields)  // the next request starts fresh
                    return .complete(consumed: consumed)
                }
                lines += 1
                lineLength = 0
                // The first line is the request line; every further one is a field.
                guard lines - 1 <= maxFields else { return .tooManyFields }
            case UInt8(ascii: "\r"):
                break
            default:
                lineLength += 1
            }
        }
        return .incomplete
    }
}

/// Applies `HeaderBlockScanner` in front of the HTTP decoder until the WebSocket upgrade completes:
/// 431 when a request's header block exceeds `ws.max_handshake_header_bytes`, 400 when it has more
/// than `ws.max_handshake_headers` fields. Request bodies are not expected on the public listener.
final class HandshakeHeaderLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var scanner: HeaderBlockScanner
    private var refused = false
    private let onRefusal: @Sendable () -> Void

    init(maxBytes: Int, maxFields: Int, onRefusal: @escaping @Sendable () -> Void) {
        scanner = HeaderBlockScanner(maxBytes: maxBytes, maxFields: maxFields)
        self.onRefusal = onRefusal
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        let buffer = unwrapInboundIn(data)
        var offset = 0
        while offset < buffer.readableBytes {
            let rest = buffer.readableBytesView.dropFirst(offset)
            switch scanner.scan(rest) {
            case .incomplete:
                offset = buffer.readableBytes
            case .complete(let consumed):
                offset += consumed
            case .tooLarge:
                return refuse(context, status: "431 Request Header Fields Too Large", error: "headers_too_large")
            case .tooManyFields:
                return refuse(context, status: "400 Bad Request", error: "too_many_headers")
            }
        }
        context.fireChannelRead(data)
    }

    /// Answers directly (the HTTP decoder has not seen the request's end) and closes.
    private func refuse(_ context: ChannelHandlerContext, status: String, error: String) {
        refused = true
        onRefusal()
        let body = "{\"error\":\"\(error)\"}"
        let head = [
            "HTTP/1.1 \(status)", "Content-Type: application/json", "Content-Length: \(body.utf8.count)",
            "Strict-Transport-Security: max-age=31536000; includeSubDomains", "Cache-Control: no-store",
            "X-Content-Type-Options: nosniff", "Connection: close", "", "",
        ].joined(separator: "\r\n")
        var buffer = context.channel.allocator.buffer(capacity: head.utf8.count + body.utf8.count)
        buffer.writeString(head + body)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }
}
