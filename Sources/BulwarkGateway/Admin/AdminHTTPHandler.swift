import BulwarkCore
import BulwarkSessions
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// The operator API on the admin listener (`/admin/v1`). Only reachable over mutual TLS with a
/// certificate from the admin CA (the listener refuses the handshake otherwise).
///
/// First slice: list live sessions, revoke a key, and a health probe. The admin token, TOTP
/// step-up for destructive actions, and the rest of the API arrive with the admin issue.
final class AdminHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let app: GatewayApp
    private var pending: HTTPRequestHead?
    private var bodyBytes = 0
    static let maxBodyBytes = 16 * 1024

    init(app: GatewayApp) { self.app = app }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            pending = head
            bodyBytes = 0
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
            if bodyBytes > Self.maxBodyBytes, pending != nil {
                pending = nil
                send(context, .payloadTooLarge, body: #"{"error":"body_too_large"}"#, keepAlive: false)
            }
        case .end:
            guard let head = pending else { return }
            pending = nil
            route(context: context, head: head)
        }
    }

    private func operatorName(_ context: ChannelHandlerContext) -> String {
        let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
        guard let der = try? handler?.peerCertificate?.toDERBytes() else { return "unknown" }
        return String(ClientCertificateVerifier.fingerprintOfDER(der).prefix(16))
    }

    private func route(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let parts = path.split(separator: "/").map(String.init)
        switch (head.method, parts) {
        case (.GET, ["admin", "v1", "healthz"]):
            send(context, .ok, body: #"{"status":"ok"}"#, keepAlive: head.isKeepAlive)
        case (.GET, ["admin", "v1", "sessions"]):
            var w = JSONWriter()
            w.beginObject()
            w.key("sessions")
            w.beginArray()
            for session in app.sessions.all { Render.session(session, to: &w) }
            w.endArray()
            w.endObject()
            send(context, .ok, body: w.string, keepAlive: head.isKeepAlive)
        case (.POST, _) where parts.count == 5 && parts[0...2] == ["admin", "v1", "keys"] && parts[4] == "revoke":
            let keyID = parts[3]
            do {
                try app.store.revokeKey(id: keyID, nowMs: app.clock.nowMs())
                let ended = app.sessions.endAll(keyID: keyID, reason: .keyRevoked)
                app.logger.notice("admin revoked key", metadata: ["key": "\(keyID)", "operator_cert": "\(operatorName(context))", "sessions_ended": "\(ended)"])
                var w = JSONWriter()
                w.beginObject()
                w.key("revoked")
                w.bool(true)
                w.key("sessions_ended")
                w.int(Int64(ended))
                w.endObject()
                send(context, .ok, body: w.string, keepAlive: head.isKeepAlive)
            } catch {
                send(context, .notFound, body: #"{"error":"key_not_found"}"#, keepAlive: head.isKeepAlive)
            }
        default:
            send(context, .notFound, body: #"{"error":"not_found"}"#, keepAlive: head.isKeepAlive)
        }
    }

    private func send(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, body: String, keepAlive: Bool) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Strict-Transport-Security", value: "max-age=31536000; includeSubDomains")
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
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
