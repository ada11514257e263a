import BulwarkAuth
import BulwarkCore
import Crypto
import NIOCore
import NIOHTTP1
import NIOSSL

/// Answers the HTTP requests that are not (successful) WebSocket upgrades: health probes, the OAuth
/// endpoints (handed to `AuthorizationServer`, off the event loop), and a clear status for refused
/// upgrades. Every response carries HSTS and no server banner.
final class HTTPResponder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let policy: UpgradePolicy
    private let readiness: @Sendable () -> Bool
    /// Told the reason and the client's address of every refused upgrade (metrics, detection).
    private let onRefusal: @Sendable (_ reason: String, _ clientIP: String) -> Void
    /// Set when the upgrade was refused by a rate limit or a ban (`AdmissionControl`).
    private let admissionRefusal: @Sendable () -> AdmissionControl.Refusal?
    /// Renders `GET /metrics` when `metrics.public` is on; nil answers 404.
    private let metricsText: (@Sendable () -> String)?
    /// Resolves the client's address (trusted proxies' headers included).
    private let clientAddress: @Sendable (any Channel, HTTPRequestHead) -> String
    private let oauth: OAuthRoutes?
    private var pending: HTTPRequestHead?
    private var body: [UInt8] = []
    private var bodyTooLarge = false

    /// The OAuth endpoints: the service once it is wired (nil until then: 503) and the clock.
    struct OAuthRoutes: Sendable {
        let service: @Sendable () -> OAuthService?
        let clock: any WallClock
    }

    init(
        policy: UpgradePolicy, readiness: @escaping @Sendable () -> Bool,
        onRefusal: @escaping @Sendable (_ reason: String, _ clientIP: String) -> Void,
        admissionRefusal: @escaping @Sendable () -> AdmissionControl.Refusal? = { nil },
        metricsText: (@Sendable () -> String)? = nil,
        clientAddress: @escaping @Sendable (any Channel, HTTPRequestHead) -> String = { channel, _ in channel.remoteAddress?.ipAddress ?? "unknown" },
        oauth: OAuthRoutes? = nil
    ) {
        self.policy = policy
        self.readiness = readiness
        self.onRefusal = onRefusal
        self.admissionRefusal = admissionRefusal
        self.metricsText = metricsText
        self.clientAddress = clientAddress
        self.oauth = oauth
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            pending = head
            body = []
            bodyTooLarge = false
        case .body(var chunk):
            if body.count + chunk.readableBytes > FormBody.maxBytes {
                bodyTooLarge = true
            } else if let bytes = chunk.readBytes(length: chunk.readableBytes) {
                body += bytes
            }
        case .end:
            guard let head = pending else { return }
            pending = nil
            respond(context: context, to: head)
        }
    }

    private func respond(context: ChannelHandlerContext, to head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        switch (head.method, path) {
        case (.GET, "/healthz"):
            send(context, .ok, body: "{\"status\":\"ok\"}", keepAlive: head.isKeepAlive)
        case (.GET, "/readyz"):
            let ready = readiness()
            send(context, ready ? .ok : .serviceUnavailable, body: ready ? "{\"status\":\"ready\"}" : "{\"status\":\"not_ready\"}", keepAlive: head.isKeepAlive)
        case (.GET, "/metrics") where metricsText != nil:
            send(context, .ok, body: metricsText!(), keepAlive: head.isKeepAlive, contentType: MetricsExposition.contentType)
        case (_, _) where policy.endpoint(for: path) != nil:
            // An upgrade that the upgrader declined, or a plain request to the WebSocket path.
            let clientIP = clientAddress(context.channel, head)
            if let refusal = admissionRefusal() {
                onRefusal("rate_limited", clientIP)
                send(context, refusal.status, body: refusal.body, keepAlive: false, extraHeaders: [("Retry-After", refusal.retryAfterSeconds)])
                return
            }
            switch policy.evaluate(head, clientIP: clientIP) {
            case .refuse(let status, let reason):
                onRefusal(reason, clientIP)
                send(context, status, body: "{\"error\":\"\(reason)\"}", keepAlive: false, extraHeaders: status == .upgradeRequired ? [("Sec-WebSocket-Version", "13")] : [])
            case .accept:
                onRefusal("websocket_upgrade_required", clientIP)
                send(context, .badRequest, body: "{\"error\":\"websocket_upgrade_required\"}", keepAlive: false)
            }
        case (_, let path) where oauth != nil && (path.hasPrefix("/oauth/") || path == "/.well-known/oauth-authorization-server"):
            respondOAuth(context: context, head: head, path: path)
        default:
            send(context, .notFound, body: "{\"error\":\"not_found\"}", keepAlive: head.isKeepAlive)
        }
    }

    /// Runs the OAuth endpoint off the event loop (it reads and writes the database) and writes the
    /// answer back on it. Tokens never appear in URLs: a query string on these paths is refused.
    private func respondOAuth(context: ChannelHandlerContext, head: HTTPRequestHead, path: String) {
        guard let oauth, let service = oauth.service() else {
            return send(context, .serviceUnavailable, body: "{\"error\":\"temporarily_unavailable\"}", keepAlive: false)
        }
        guard !bodyTooLarge else {
            return send(context, .payloadTooLarge, body: "{\"error\":\"invalid_request\"}", keepAlive: false)
        }
        guard !head.uri.contains("?") else {
            return send(context, .badRequest, body: "{\"error\":\"invalid_request\",\"error_description\":\"no query parameters\"}", keepAlive: false)
        }
        let certificate = (try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate)
            .flatMap { $0 }.flatMap { try? $0.toDERBytes() }.map { Array(SHA256.hash(data: $0)) }
        let request = OAuthHTTPRequest(
            method: head.method.rawValue, path: path, headers: head.headers.map { ($0.name, $0.value) }, body: body,
            clientCertificateSHA256: certificate)
        body = []
        let keepAlive = head.isKeepAlive
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let clock = oauth.clock
        Task {
            let response =
                service.server.handle(request, nowMs: clock.nowMs())
                ?? OAuthHTTPResponse(status: 404, body: Array("{\"error\":\"not_found\"}".utf8))
            bound.eventLoop.execute {
                let (handler, context) = bound.value
                handler.send(
                    context, HTTPResponseStatus(statusCode: response.status), body: response.bodyText, keepAlive: keepAlive,
                    extraHeaders: response.headers.map { ($0.name, $0.value) })
            }
        }
    }

    private func send(
        _ context: ChannelHandlerContext, _ status: HTTPResponseStatus, body: String, keepAlive: Bool,
        extraHeaders: [(String, String)] = [], contentType: String = "application/json"
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Strict-Transport-Security", value: "max-age=31536000; includeSubDomains")
        if !extraHeaders.contains(where: { $0.0 == "Cache-Control" }) { headers.add(name: "Cache-Control", value: "no-store") }
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}

/// Drops connections that have not finished the WebSocket upgrade within the handshake deadline
/// (slowloris), and counts connections in the handshaking state while it is in the pipeline.
/// Removed from the pipeline once the upgrade completes.
final class HandshakeDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let deadline: TimeAmount
    private let metrics: GatewayMetrics
    private var timer: Scheduled<Void>?

    init(deadline: TimeAmount, metrics: GatewayMetrics) {
        self.deadline = deadline
        self.metrics = metrics
    }

    func handlerAdded(context: ChannelHandlerContext) {
        metrics.connections.handshaking.add(1, ordering: .relaxed)
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: deadline) { [metrics] in
            metrics.handshakeTimeouts.add(1, ordering: .relaxed)
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        metrics.connections.handshaking.subtract(1, ordering: .relaxed)
        timer?.cancel()
    }
}
