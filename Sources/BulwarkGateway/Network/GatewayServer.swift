import BulwarkCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import X509

/// The public listener: TCP, TLS, HTTP/1.1 and the WebSocket upgrade on `GET /ws/v1` (and on
/// `GET /ws/echo` when the conformance echo is on).
///
/// Kept thin on purpose: it assembles the channel pipeline and hands each upgraded connection to
/// the app; every rule about what a client may do lives in the handlers and the RPC layer.
///
///     [PROXY v2] ─ TLS ─ HandshakeDeadline ─ HandshakeHeaderLimit ─ HTTP codec ─ upgrader ─ HTTPResponder
///     after upgrade: [PROXY v2] ─ TLS ─ OutboundQueue ─ frame codec ─ WebSocketConnectionHandler ─ sink
///     (the sink: RequestIntake → Connection on /ws/v1, ConformanceEcho on /ws/echo)
final class GatewayServer: Sendable {
    static let webSocketPath = "/ws/v1"
    static let conformanceEchoPath = "/ws/echo"

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
        var policy = UpgradePolicy(
            path: Self.webSocketPath, allowedOrigins: configuration.allowedOrigins,
            echoPath: configuration.conformanceEcho ? Self.conformanceEchoPath : nil)
        policy.isBlocked = { [blocks = app.blocks] ip in blocks.isBlocked(ip) }
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

    /// Rate limits and bans before the 101 (PROTOCOL.md §3.1). An admitted connection holds its
    /// per-IP and node-wide slots until its channel closes.
    private static func admit(channel: any Channel, ip: String, app: GatewayApp, policyAccepted: Bool) -> AdmissionControl.Verdict {
        let verdict = app.rateLimits.admission.admitUpgrade(ip: ip, policyAccepted: policyAccepted, nowMs: app.clock.nowMs())
        if verdict == .admit && policyAccepted {
            let admission = app.rateLimits.admission
            channel.closeFuture.whenComplete { _ in admission.release(ip: ip) }
        }
        return verdict
    }

    private static func configurePipeline(
        channel: any Channel, app: GatewayApp, tls: TLSContextProvider.Snapshot?, policy: UpgradePolicy
    ) throws {
        let sync = channel.pipeline.syncOperations
        let configuration = app.configuration
        app.metrics.connectionsAccepted.add(1, ordering: .relaxed)
        app.monitor.connectionAccepted()
        // Only a trusted proxy may say who the client is; anyone else's PROXY header is just bytes.
        if configuration.proxyProtocol, app.clientAddresses.isTrusted(channel.remoteAddress?.ipAddress ?? "") {
            try sync.addHandler(ProxyProtocolHandler())
        }
        if let tls { try sync.addHandler(Self.tlsHandler(tls, logger: app.logger)) }
        let limits = configuration.limits
        let deadline = HandshakeDeadlineHandler(deadline: .milliseconds(limits.handshakeDeadlineMs), metrics: app.metrics)
        try sync.addHandler(deadline, name: "bulwark.handshake-deadline")
        let headerLimit = HandshakeHeaderLimitHandler(
            maxBytes: limits.maxHandshakeHeaderBytes, maxFields: limits.maxHandshakeHeaders,
            onRefusal: { app.metrics.handshakeHeaderRefusals.add(1, ordering: .relaxed) })
        try sync.addHandler(headerLimit, name: "bulwark.handshake-headers")
        var metricsText: (@Sendable () -> String)?
        if configuration.metricsPublic { metricsText = { app.metricsText() } }
        // The rate-limit verdict of this connection's upgrade, for HTTPResponder to explain.
        let admissionRefusal = NIOLockedValueBox<AdmissionControl.Refusal?>(nil)
        let responder = HTTPResponder(
            policy: policy, readiness: { app.isReady() },
            onRefusal: { reason, clientIP in
                app.metrics.upgradesRefused.add(1, ordering: .relaxed)
                if reason == "origin_not_allowed" { app.monitor.originRefused(ip: clientIP) }
            },
            admissionRefusal: { admissionRefusal.withLockedValue { $0 } }, metricsText: metricsText,
            clientAddress: { channel, head in app.clientAddress(of: channel, request: head) },
            oauth: HTTPResponder.OAuthRoutes(service: { app.oauth }, clock: app.clock))
        // One decoder serves both endpoints: with the echo on, its cap is the echo's and /ws/v1's own
        // frame limit is enforced after decoding (InboundFrameRules).
        let decoderCap = configuration.conformanceEcho ? max(limits.maxFrameBytes, FrameLimits.conformanceEcho.maxFrameBytes) : limits.maxFrameBytes
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: decoderCap, automaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                let clientIP = app.clientAddress(of: channel, request: head)
                let decision = policy.evaluate(head, clientIP: clientIP)
                if case .refuse(let refusal) = Self.admit(channel: channel, ip: clientIP, app: app, policyAccepted: decision.isAccepted) {
                    admissionRefusal.withLockedValue { $0 = refusal }
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                switch decision {
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
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    try app.attachWebSocket(channel: channel, request: head, endpoint: policy.endpoint(for: head.uri) ?? .rpc)
                }
            })
        try sync.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    let pipeline = context.pipeline.syncOperations
                    pipeline.removeHandler(name: "bulwark.http", promise: nil)
                    pipeline.removeHandler(name: "bulwark.handshake-deadline", promise: nil)
                    pipeline.removeHandler(name: "bulwark.handshake-headers", promise: nil)
                }
            ),
            withErrorHandling: true)
        try sync.addHandler(responder, name: "bulwark.http")
    }
}
