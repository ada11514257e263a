import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// What arrives on a connection: whole messages (fragments reassembled), then one `closed`.
enum TransportEvent: Sendable {
    case text([UInt8])
    case binary([UInt8])
    /// The connection is gone; `code` is the close frame's code when the server sent one.
    case closed(code: UInt16?, reason: String?)
}

/// One WebSocket connection to the gateway (RFC 6455 through NIO's codecs): TCP, TLS, the HTTP
/// upgrade offering `bulwark.v1`, then masked frames out and whole messages in. Pings are
/// answered here; everything else is the client's business.
final class WebSocketTransport: Sendable {
    let channel: any Channel
    let events: AsyncStream<TransportEvent>

    private init(channel: any Channel, events: AsyncStream<TransportEvent>) {
        self.channel = channel
        self.events = events
    }

    struct UpgradeRefused: Error, CustomStringConvertible {
        var description: String { "the gateway refused the WebSocket upgrade" }
    }

    static func connect(
        to endpoint: Endpoint, tls: NIOSSLContext?, group: any EventLoopGroup, maxMessageBytes: Int = 1 << 20,
        connectTimeout: TimeAmount = .seconds(10)
    ) async throws -> WebSocketTransport {
        let (events, continuation) = AsyncStream.makeStream(of: TransportEvent.self)
        let upgraded = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(connectTimeout)
            .connect(host: endpoint.host, port: endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: endpoint.serverName))
                    }
                    let upgrader = NIOTypedWebSocketClientUpgrader<(any Channel)?>(maxFrameSize: maxMessageBytes) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                MessageHandler(continuation: continuation, maxMessageBytes: maxMessageBytes))
                            return channel
                        }
                    }
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(endpoint.serverName):\(endpoint.port)")
                    headers.add(name: "Sec-WebSocket-Protocol", value: "bulwark.v1")
                    var configuration = NIOUpgradableHTTPClientPipelineConfiguration(
                        upgradeConfiguration: NIOTypedHTTPClientUpgradeConfiguration(
                            upgradeRequestHead: HTTPRequestHead(version: .http1_1, method: .GET, uri: endpoint.path, headers: headers),
                            upgraders: [upgrader],
                            notUpgradingCompletionHandler: { channel in
                                channel.close(promise: nil)
                                return channel.eventLoop.makeSucceededFuture(nil)
                            }))
                    // The server's hello may share a TCP segment with the 101 response: keep those bytes.
                    configuration.leftOverBytesStrategy = .forwardBytes
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: configuration)
                }
            }
        guard let channel = try await upgraded.get() else {
            continuation.finish()
            throw UpgradeRefused()
        }
        return WebSocketTransport(channel: channel, events: events)
    }

    /// Queues one message; writes keep the order of the calls.
    func send(text bytes: [UInt8]) { write(.text, bytes) }
    func send(binary bytes: [UInt8]) { write(.binary, bytes) }

    private func write(_ opcode: WebSocketOpcode, _ bytes: [UInt8]) {
        let frame = WebSocketFrame(fin: true, opcode: opcode, maskKey: .random(), data: channel.allocator.buffer(bytes: bytes))
        channel.writeAndFlush(frame, promise: nil)
    }

    /// The close handshake: our close frame, then the server's (or 2 s), then TCP close.
    func close(code: WebSocketErrorCode = .normalClosure) async {
        var body = channel.allocator.buffer(capacity: 2)
        body.write(webSocketErrorCode: code)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: body)
        channel.writeAndFlush(frame, promise: nil)
        let channel = self.channel
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        try? await channel.closeFuture.get()
        timeout.cancel()
    }

    /// Drops the TCP connection without a close frame, as a failing network would.
    func abort() {
        channel.close(promise: nil)
    }
}

/// Reassembles messages, answers pings, and finishes the stream with the close code.
private final class MessageHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let continuation: AsyncStream<TransportEvent>.Continuation
    private let maxMessageBytes: Int
    private var partial: (opcode: WebSocketOpcode, bytes: [UInt8])?
    private var closeCode: UInt16?
    private var closeReason: String?

    init(continuation: AsyncStream<TransportEvent>.Continuation, maxMessageBytes: Int) {
        self.continuation = continuation
        self.maxMessageBytes = maxMessageBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            let bytes = Array(frame.unmaskedData.readableBytesView)
            if frame.fin {
                deliver(frame.opcode, bytes)
            } else {
                partial = (frame.opcode, bytes)
            }
        case .continuation:
            guard var message = partial else { return fail(context) }
            message.bytes += frame.unmaskedData.readableBytesView
            guard message.bytes.count <= maxMessageBytes else { return fail(context) }
            if frame.fin {
                partial = nil
                deliver(message.opcode, message.bytes)
            } else {
                partial = message
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            var body = frame.unmaskedData
            if let code = body.readInteger(as: UInt16.self) {
                closeCode = code
                closeReason = body.readString(length: body.readableBytes)
            }
            // Echo the close (RFC 6455 §5.5.1) and let the server close TCP (or close it ourselves).
            var echo = context.channel.allocator.buffer(capacity: 2)
            if let closeCode { echo.writeInteger(closeCode) }
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: echo)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in channel.close(promise: nil) }
        default:
            break
        }
    }

    private func deliver(_ opcode: WebSocketOpcode, _ bytes: [UInt8]) {
        continuation.yield(opcode == .text ? .text(bytes) : .binary(bytes))
    }

    private func fail(_ context: ChannelHandlerContext) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.yield(.closed(code: closeCode, reason: closeReason))
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
