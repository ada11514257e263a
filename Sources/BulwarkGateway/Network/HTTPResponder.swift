import NIOCore
import NIOHTTP1

/// Answers the HTTP requests that are not (successful) WebSocket upgrades: health probes, and a
/// clear status for refused upgrades. Every response carries HSTS and no server banner.
final class HTTPResponder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let policy: UpgradePolicy
    private let readiness: @Sendable () -> Bool
    /// Told the reason and the client's address of every refused upgrade (metrics, detection).
    private let onRefusal: @Sendable (_ reason: String, _ clientIP: String) -> Void
    /// Set when the upgrade was refused by a rate limit or a ban (`AdmissionControl`).
    private let admissionRefusal: @Sendable () -> AdmissionControl.Refusal?
    private var pending: HTTPRequestHead?

    init(
        policy: UpgradePolicy, readiness: @escaping @Sendable () -> Bool,
        onRefusal: @escaping @Sendable (_ reason: String, _ clientIP: String) -> Void,
        admissionRefusal: @escaping @Sendable () -> AdmissionControl.Refusal? = { nil }
    ) {
        self.policy = policy
        self.readiness = readiness
        self.onRefusal = onRefusal
        self.admissionRefusal = admissionRefusal
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            pending = head
        case .body:
            break
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
        case (_, policy.path):
            // An upgrade that the upgrader declined, or a plain request to the WebSocket path.
            let clientIP = context.channel.remoteAddress?.ipAddress ?? "unknown"
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
        default:
            send(context, .notFound, body: "{\"error\":\"not_found\"}", keepAlive: head.isKeepAlive)
        }
    }

    private func send(
        _ context: ChannelHandlerContext, _ status: HTTPResponseStatus, body: String, keepAlive: Bool,
        extraHeaders: [(String, String)] = []
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Strict-Transport-Security", value: "max-age=31536000; includeSubDomains")
        headers.add(name: "Cache-Control", value: "no-store")
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
/// (slowloris). Removed from the pipeline once the upgrade completes.
final class HandshakeDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let deadline: TimeAmount
    private var timer: Scheduled<Void>?

    init(deadline: TimeAmount) { self.deadline = deadline }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: deadline) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }
}
