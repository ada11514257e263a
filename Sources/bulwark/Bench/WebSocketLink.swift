import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// What a scenario does on one WebSocket connection. Every call happens on the connection's event
/// loop, so a driver keeps plain mutable state and needs no locks.
protocol LinkDriver: AnyObject {
    /// The upgrade finished; the link can send. (Messages may arrive before this: the server's
    /// `hello` can come with the 101 response.)
    func linkUp(_ link: LinkHandler)
    /// One text or binary message (the servers under test never fragment), with its arrival time.
    func received(_ payload: ByteBuffer, atNanos: UInt64, link: LinkHandler)
    /// The connection closed, for whatever reason.
    func linkDown()
}

/// The client end of one WebSocket connection: masks and writes frames, answers pings, and hands
/// every message to its driver.
final class LinkHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var driver: (any LinkDriver)?
    private var context: ChannelHandlerContext?
    private var maskSource: MaskSource

    init(driver: any LinkDriver, seed: UInt64) {
        self.driver = driver
        self.maskSource = MaskSource(seed: seed)
    }

    var allocator: ByteBufferAllocator { context?.channel.allocator ?? ByteBufferAllocator() }
    var eventLoop: (any EventLoop)? { context?.eventLoop }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// Called once the upgrade has finished and the HTTP handlers are gone (frames written
    /// earlier would reach the HTTP encoder and be dropped).
    func start() {
        driver?.linkUp(self)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let driver = self.driver
        self.driver = nil
        driver?.linkDown()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            driver?.received(frame.unmaskedData, atNanos: MonotonicClock.nanos(), link: self)
        case .ping:
            write(opcode: .pong, frame.unmaskedData, flush: true)
        case .connectionClose:
            context.close(promise: nil)
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Sends one text message; pass `flush: false` to batch several writes before `flush()`.
    func send(_ payload: ByteBuffer, flush: Bool = true) {
        write(opcode: .text, payload, flush: flush)
    }

    func flush() { context?.flush() }

    func close() { context?.close(mode: .all, promise: nil) }

    private func write(opcode: WebSocketOpcode, _ payload: ByteBuffer, flush: Bool) {
        guard let context else { return }
        let frame = WebSocketFrame(fin: true, opcode: opcode, maskKey: maskSource.next(), data: payload)
        if flush {
            context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        } else {
            context.write(wrapOutboundOut(frame), promise: nil)
        }
    }
}

/// Client masking keys (RFC 6455 §5.3) from a cheap generator: the mask protects intermediaries
/// from cache poisoning, not secrets, and a system random call per frame would dominate the cost of
/// a small message on the load generator's side.
struct MaskSource {
    private var state: UInt64

    init(seed: UInt64) { state = seed | 1 }

    mutating func next() -> WebSocketMaskingKey {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        let bits = UInt32(truncatingIfNeeded: state)
        return WebSocketMaskingKey((0..<4).map { UInt8(truncatingIfNeeded: bits >> ($0 * 8)) })!
    }
}

/// Opens WebSocket connections to the target: TCP, optional TLS trusting the given CA, the HTTP
/// upgrade, then a `LinkHandler` with the driver that `makeDriver` creates on the connection's loop.
struct LinkFactory: Sendable {
    let target: BenchTarget
    let tlsContext: NIOSSLContext?
    let group: any EventLoopGroup

    init(target: BenchTarget, group: any EventLoopGroup) throws {
        self.target = target
        self.group = group
        self.tlsContext = try target.makeTLSContext()
    }

    struct UpgradeRefused: Error, CustomStringConvertible {
        var description: String { "the server refused the WebSocket upgrade" }
    }

    /// Connects and upgrades; returns the channel once the driver's `linkUp` has run.
    func open(path: String, subprotocol: String?, seed: UInt64, makeDriver: @escaping @Sendable () -> any LinkDriver) async throws -> any Channel {
        let target = self.target
        let tlsContext = self.tlsContext
        let upgraded = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: target.serverName))
                    }
                    let upgrader = NIOTypedWebSocketClientUpgrader<(any Channel)?>(maxFrameSize: 1 << 24) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(LinkHandler(driver: makeDriver(), seed: seed))
                            return channel
                        }
                    }
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(target.serverName):\(target.port)")
                    if let subprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
                    var configuration = NIOUpgradableHTTPClientPipelineConfiguration(
                        upgradeConfiguration: NIOTypedHTTPClientUpgradeConfiguration(
                            upgradeRequestHead: HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers),
                            upgraders: [upgrader],
                            notUpgradingCompletionHandler: { channel in
                                channel.close(promise: nil)
                                return channel.eventLoop.makeSucceededFuture(nil)
                            }))
                    // The server's first frame may share a TCP segment with the 101 response.
                    configuration.leftOverBytesStrategy = .forwardBytes
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: configuration)
                }
            }
        guard let channel = try await upgraded.get() else { throw UpgradeRefused() }
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: LinkHandler.self).start()
        }.get()
        return channel
    }
}
