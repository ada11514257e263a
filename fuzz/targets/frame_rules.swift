// libFuzzer target: the inbound frame path, NIO's WebSocketFrameDecoder (as the gateway configures
// it) followed by InboundFrameRules (masking, RSV, opcodes, control frames, fragmentation, sizes,
// incremental UTF-8).
//
// Invariants: a delivered text message is valid UTF-8 and within the message limit; no message is
// delivered after the rules failed the connection; the decoder's refusals are errors, never crashes.
import NIOCore
import NIOEmbedded
import NIOWebSocket

private let limits = FrameLimits(maxFrameBytes: 4096, maxMessageBytes: 8192, maxFragments: 8, acceptsBinary: true)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrameRules(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: limits.maxFrameBytes)))
    defer { _ = try? channel.finish() }
    var rules = InboundFrameRules(limits: limits)
    var failed = false
    // Feed the input in two writes (partial reads are part of the decoder's job).
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let split = size / 2
    for part in [bytes[..<split], bytes[split...]] {
        var buffer = channel.allocator.buffer(capacity: part.count)
        buffer.writeBytes(part)
        do { try channel.writeInbound(buffer) } catch { return 0 }
        while let frame = try? channel.readInbound(as: WebSocketFrame.self) {
            let verdict = rules.accept(frame)
            if failed { fatalError("a frame was accepted after the connection failed") }
            switch verdict {
            case .message(let kind, let message):
                guard message.readableBytes <= limits.maxMessageBytes else { fatalError("message over the limit") }
                if kind == .text {
                    let text = message.getBytes(at: message.readerIndex, length: message.readableBytes) ?? []
                    guard String(validating: text, as: UTF8.self) != nil else { fatalError("invalid UTF-8 delivered") }
                }
            case .fail:
                failed = true
            case .close:
                return 0
            default:
                break
            }
            if failed { return 0 }
        }
    }
    return 0
}
