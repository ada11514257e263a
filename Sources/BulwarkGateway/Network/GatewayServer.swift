import BulwarkCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import X509

/// The public listener: TCP, TLS, HTTP/1.1 and the WebSocket upgrade on `GET /ws/v1`.
///
/// Kept thin on purpose: it assembles the channel pipeline and hands each upgraded connection to
/// the app; every rule about what a client may do lives in the handlers and the RPC layer.
///
///     TLS ─ HandshakeDeadline ─ HTTP codec ─ upgrader ─ HTTPResponder
///                   after upgrade:  frame codec ─ WebSocketConnectionHandler ─ (RequestIntake → Connection)
final class GatewayServer: Sendable {
    static let webSocketPath = "/ws/v1"

    private let app: GatewayApp
    private let group: MultiThreadedEventLoopGroup
    private let tls: TLSContextProvider?
    private let serverChannel: NIOLockedValueBox<(any Channel)?> = NIOLockedValueBox(nil)

    init(app: GatewayApp, group: MultiThreadedEventLoopGroup, tls: TLSContextProvider?) {
        self.app = app
        self.group = group
        self.tls = tls
    }

    /// Binds and returns the local address (useful with port 0).
    func start() async throws -> SocketAddress {
        let configuration = app.configuration
        let policy = UpgradePolicy(path: Self.webSocketPath, allowedOrigins: configuration.allowedOrigins)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .childChannelInitializer { [app, tls] channel in
                channel.eventLoop.makeCompletedFuture {
                    // The context current at accept time: a certificate reload affects new connections only.
                    try Self.configurePipeline(channel: channel, app: app, tls: tls?.snapshot, policy: policy)
                }
            }
        let channel = try await bootstrap.bind(host: configuration.listenHost, port: configuration.listenPort).get()
        serverChannel.withLockedValue { $0 = channel }
        guard let address = channel.localAddress else { throw BootstrapError("listener has no local address") }
        return address
    }

    /// Stops accepting new connections; live ones are drained by the app.
    func stopAccepting() async {
        let channel = serverChannel.withLockedValue { $0 }
        try? await channel?.close()
    }

    /// The TLS handler; with client certificates enabled, their chains are validated by
    /// `ClientCertificateVerifier` instead of BoringSSL.
    static func tlsHandler(_ tls: TLSContextProvider.Snapshot, logger: Logger) -> NIOSSLServerHandler {
        guard let verifier = tls.clientVerifier else { return NIOSSLServerHandler(context: tls.context) }
        return NIOSSLServerHandler(context: tls.context, customVerificationCallback: { certificates, promise in
            let chain: [Certificate]
            do {
                chain = try certificates.map { try Certificate(derEncoded: $0.toDERBytes()) }
            } catch {
                logger.notice("client certificate refused", metadata: ["reason": "does not parse"])
                promise.succeed(.failed)
                return
            }
            promise.completeWithTask {
                switch await verifier.verify(chain: chain) {
                case .success:
                    return .certificateVerified
                case .failure(let rejection):
                    logger.notice("client certificate refused", metadata: ["reason": "\(rejection.description)"])
                    return .failed
                }
            }
        })
    }

    private static func configurePipeline(
        channel: any Channel, app: GatewayApp, tls: TLSContextProvider.Snapshot?, policy: UpgradePolicy
    ) throws {
        let sync = channel.pipeline.syncOperations
        app.metrics.connectionsAccepted.add(1, ordering: .relaxed)
        if let tls { try sync.addHandler(Self.tlsHandler(tls, logger: app.logger)) }
        let limits = app.configuration.limits
        let deadline = HandshakeDeadlineHandler(deadline: .milliseconds(limits.handshakeDeadlineMs))
        try sync.addHandler(deadline, name: "bulwark.handshake-deadline")
        let responder = HTTPResponder(
            policy: policy, readiness: { app.isReady() }, onRefusal: { app.metrics.upgradesRefused.add(1, ordering: .relaxed) },
            oauth: HTTPResponder.OAuthRoutes(service: { app.oauth }, clock: app.clock))
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: limits.maxFrameBytes, automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                switch policy.evaluate(head) {
                case .accept(let subprotocol):
                    var headers = HTTPHeaders()
                    if let subprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
                    headers.add(name: "Strict-Transport-Security", value: "max-age=31536000; includeSubDomains")
                    return channel.eventLoop.makeSucceededFuture(headers)
                case .refuse:
                    // Returning nil hands the request to HTTPResponder, which answers with the reason.
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try app.attachWebSocket(channel: channel)
                }
            })
        try sync.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    let pipeline = context.pipeline.syncOperations
                    pipeline.removeHandler(name: "bulwark.http", promise: nil)
                    pipeline.removeHandler(name: "bulwark.handshake-deadline", promise: nil)
                }
            ),
            withErrorHandling: true)
        try sync.addHandler(responder, name: "bulwark.http")
    }
}
