import BulwarkAuth
import BulwarkCore
import BulwarkSessions
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// The operator API on the admin listener (`/admin/v1`). Only reachable over mutual TLS with a
/// certificate from the admin CA (the listener refuses the handshake otherwise).
///
/// Today: health, sessions (list, show, revoke), keys (list, show, create, rotate, revoke, unlock),
/// accounts (disable, enable, tier) and their TOTP factor (enrol, status, unlock, remove), bans (list, lift). The admin token, TOTP step-up for destructive actions, and the rest of the
/// API arrive with the admin issue.
final class AdminHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let app: GatewayApp
    private var pending: HTTPRequestHead?
    private(set) var body: [UInt8] = []
    private var refused = false
    static let maxBodyBytes = 16 * 1024

    init(app: GatewayApp) { self.app = app }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            pending = head
            body.removeAll(keepingCapacity: true)
            refused = false
        case .body(let buffer):
            guard !refused else { return }
            // Refused before buffering the excess.
            guard body.count + buffer.readableBytes <= Self.maxBodyBytes else {
                refused = true
                send(context, .payloadTooLarge, body: #"{"error":"body_too_large"}"#, keepAlive: false)
                return
            }
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let head = pending, !refused else { return }
            pending = nil
            route(context: context, head: head)
        }
    }

    func operatorName(_ context: ChannelHandlerContext) -> String {
        let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
        guard let der = try? handler?.peerCertificate?.toDERBytes() else { return "unknown" }
        return String(ClientCertificateVerifier.fingerprintOfDER(der).prefix(16))
    }

    private func route(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let parts = path.split(separator: "/").map(String.init)
        // Health stays open to probes (the listener is mTLS-only anyway); everything else needs the
        // admin token, and destructive actions a TOTP step-up.
        // The console's static files carry no data: they are served without the token (the browser's
        // operator certificate is still required by the listener).
        if parts.first == "admin", parts.count >= 2, parts[1] == "console", head.method == .GET {
            return serveConsole(context: context, head: head, file: parts.count == 3 ? parts[2] : nil)
        }
        if parts != ["admin", "v1", "healthz"],
            let refusal = app.adminGuard.check(head, path: parts, operatorID: operatorName(context))
        {
            app.audit.record(
                "admin.refused", actor: "operator:" + operatorName(context), outcome: .failure,
                details: ["path": String(path.prefix(128)), "code": refusal.code])
            return failure(context, refusal.status, refusal.code)
        }
        switch (head.method, parts) {
        case (.GET, ["admin", "v1", "healthz"]):
            send(context, .ok, body: #"{"status":"ok"}"#, keepAlive: head.isKeepAlive)
        case (.GET, ["admin", "v1", "metrics"]):
            send(context, .ok, body: app.metricsText(), keepAlive: head.isKeepAlive, contentType: MetricsExposition.contentType)
        case (.GET, ["admin", "v1", "sessions"]):
            var w = JSONWriter()
            w.beginObject()
            w.key("sessions")
            w.beginArray()
            let now = app.clock.nowMs()
            for session in app.sessions.all {
                Render.session(session, boundConnections: app.sessions.boundConnections(sessionID: session.id), nowMs: now, to: &w)
            }
            w.endArray()
            w.endObject()
            send(context, .ok, body: w.string, keepAlive: head.isKeepAlive)
        case (.GET, ["admin", "v1", "keys"]):
            let account = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first.flatMap { query in
                query.split(separator: "&").first { $0.hasPrefix("account=") }.map { String($0.dropFirst("account=".count)) }
            }
            guard let keys = try? app.store.keys(accountID: account) else { return failure(context, .internalServerError, "store_unavailable") }
            var w = JSONWriter()
            w.beginObject()
            w.key("keys")
            w.beginArray()
            for key in keys { KeyRendering.write(key, to: &w) }
            w.endArray()
            w.endObject()
            send(context, .ok, body: w.string, keepAlive: head.isKeepAlive)
        case (.GET, _) where parts.count == 4 && parts[0...2] == ["admin", "v1", "keys"]:
            guard let key = try? app.store.apiKey(id: parts[3]) else { return failure(context, .notFound, "key_not_found") }
            var w = JSONWriter()
            KeyRendering.write(key, to: &w)
            send(context, .ok, body: w.string, keepAlive: head.isKeepAlive)
        case (.POST, ["admin", "v1", "keys"]):
            createKey(context: context, head: head)
        case (.POST, _) where parts.count == 5 && parts[0...2] == ["admin", "v1", "keys"] && parts[4] == "rotate":
            rotateKey(context: context, head: head, keyID: parts[3])
        case (.POST, _) where parts.count == 5 && parts[0...2] == ["admin", "v1", "keys"] && parts[4] == "unlock":
            do {
                try app.store.unlockKey(id: parts[3], nowMs: app.clock.nowMs())
                app.loginThrottle.reset(keyID: parts[3])
                audit(context, "admin.key.unlock", parts[3])
                send(context, .ok, body: #"{"unlocked":true}"#, keepAlive: head.isKeepAlive)
            } catch {
                failure(context, .notFound, "key_not_found")
            }
        case (.GET, ["admin", "v1", "accounts"]):
            listAccounts(context: context, head: head)
        case (.POST, ["admin", "v1", "accounts"]):
            createAccount(context: context, head: head)
        case (.GET, _) where parts.count == 4 && parts[0...2] == ["admin", "v1", "accounts"]:
            showAccount(context: context, head: head, accountID: parts[3])
        case (.POST, _) where parts.count == 5 && parts[0...2] == ["admin", "v1", "accounts"] && parts[4] == "deposits":
            fundAccount(context: context, head: head, accountID: parts[3])
        case (.POST, _) where parts.count == 5 && parts[0...2] == ["admin", "v1", "accounts"] && ["disable", "enable"].contains(parts[4]):
            let disable = parts[4] == "disable"
            do {
                try app.store.setAccountStatus(id: parts[3], disable ? .disabled : .enabled, nowMs: app.clock.nowMs())
                let ended = disable ? app.sessions.endAll(accountID: parts[3], reason: .accountDisabled, nowMs: app.clock.nowMs()) : 0
                audit(context, disable ? "admin.account.disable" : "admin.account.enable", parts[3])
                send(context, .ok, body: disable ? "{\"disabled\":true,\"sessions_ended\":\(ended)}" : #"{"enabled":true}"#, keepAlive: head.isKeepAlive)
            } catch {
                failure(context, .notFound, "account_not_found")
            }
        case (.POST, _) where parts.count == 5 && parts[0...2] == ["admin", "v1", "keys"] && parts[4] == "revoke":
            let keyID = parts[3]
            do {
                try app.store.revokeKey(id: keyID, nowMs: app.clock.nowMs())
                let ended = app.sessions.endAll(keyID: keyID, reason: .keyRevoked, nowMs: app.clock.nowMs())
                audit(context, "admin.key.revoke", keyID, details: ["sessions_ended": String(ended)])
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
        case (.GET, _) where parts.count == 4 && parts[0...2] == ["admin", "v1", "sessions"]:
            showSession(context: context, head: head, sessionID: parts[3])
        case (.POST, _) where parts.count == 5 && parts[0...2] == ["admin", "v1", "sessions"] && parts[4] == "revoke":
            revokeSession(context: context, head: head, sessionID: parts[3])
        case (.GET, ["admin", "v1", "bans"]):
            listBans(context: context, head: head)
        case (.POST, _) where parts.count == 5 && parts[0...2] == ["admin", "v1", "bans"] && parts[4] == "lift":
            liftBan(context: context, head: head, subjectText: parts[3])
        case (.POST, _) where parts.count == 5 && parts[0...2] == ["admin", "v1", "accounts"] && parts[4] == "tier":
            setTier(context: context, head: head, accountID: parts[3])
        case (_, _) where parts.count >= 3 && parts[0...1] == ["admin", "v1"] && routeIncident(context: context, head: head, parts: parts):
            break
        case (_, _) where parts.count >= 5 && parts[0...2] == ["admin", "v1", "accounts"] && parts[4] == "mfa":
            routeMFA(context: context, head: head, accountID: parts[3], action: parts.count == 6 ? parts[5] : nil, extra: parts.count > 6)
        default:
            send(context, .notFound, body: #"{"error":"not_found"}"#, keepAlive: head.isKeepAlive)
        }
    }

    // MARK: Key creation and rotation

    private var management: KeyManagement {
        let path = app.configuration.masterKeyFile ?? DataFolder(path: app.configuration.dataDirectory).masterKeyPath
        return KeyManagement(store: app.store, secretBox: { try SecretBox(masterKey: SecretBox.loadKey(file: path)) })
    }

    /// The request body as a params object, strictly parsed; nil after answering 400.
    func jsonBody(_ context: ChannelHandlerContext, allowed: Set<String>) -> ParamsReader? {
        guard let value = try? StrictJSONParser().parse(body), case .object(let object) = value else {
            failure(context, .badRequest, "body_must_be_a_json_object")
            return nil
        }
        do {
            return try ParamsReader(object, allowed: allowed)
        } catch {
            failure(context, .badRequest, "invalid_params", field: error.field)
            return nil
        }
    }

    private func createKey(context: ChannelHandlerContext, head: HTTPRequestHead) {
        guard let reader = jsonBody(context, allowed: [
            "account_id", "type", "public_key", "scopes", "label", "expires_in_days", "client_cert_sha256", "ip_allowlist",
            "instruments", "max_order_notional", "sealed_policy",
        ]) else { return }
        do throws(RPCError) {
            var request = KeyManagement.Request(
                accountID: try reader.requiredString("account_id", maxLength: 64),
                scopes: (try reader.stringArray("scopes", maxCount: 8) ?? []).joined(separator: ","))
            request.type = try reader.string("type", maxLength: 16) ?? "ed25519"
            request.publicKey = try reader.string("public_key", maxLength: 4096)
            request.label = try reader.string("label", maxLength: 128) ?? ""
            request.expiresInDays = try reader.int("expires_in_days", in: 1...3650).map(Int.init)
            request.clientCertificateSHA256 = try reader.string("client_cert_sha256", maxLength: 95)
            request.ipAllowlist = try reader.stringArray("ip_allowlist", maxCount: 64, maxLength: 64) ?? []
            request.instruments = try reader.stringArray("instruments", maxCount: 256, maxLength: 48)
            request.maxOrderNotional = try reader.string("max_order_notional", maxLength: 40)
            request.sealedPolicy = try reader.string("sealed_policy", maxLength: 8) ?? "none"
            do {
                let created = try management.create(request, nowMs: app.clock.nowMs())
                audit(context, "admin.key.create", created.key.id, details: ["account": request.accountID])
                var w = JSONWriter()
                w.beginObject()
                w.key("key_id")
                w.string(created.key.id)
                if let secret = created.secret {
                    w.key("secret")
                    w.string(secret)
                }
                w.endObject()
                send(context, .created, body: w.string, keepAlive: head.isKeepAlive)
            } catch {
                failure(context, .badRequest, "invalid_key", detail: "\(error)")
            }
        } catch {
            failure(context, .badRequest, "invalid_params", field: error.field)
        }
    }

    private func rotateKey(context: ChannelHandlerContext, head: HTTPRequestHead, keyID: String) {
        guard let reader = jsonBody(context, allowed: ["public_key", "overlap_minutes"]) else { return }
        do throws(RPCError) {
            let publicKey = try reader.string("public_key", maxLength: 4096)
            let overlap = Int(try reader.int("overlap_minutes", in: 0...10_080) ?? 60)
            do {
                let (created, oldExpires) = try management.rotate(keyID: keyID, newPublicKey: publicKey, overlapMinutes: overlap, nowMs: app.clock.nowMs())
                audit(context, "admin.key.rotate", keyID, details: ["new_key": created.key.id])
                var w = JSONWriter()
                w.beginObject()
                w.key("key_id")
                w.string(created.key.id)
                w.key("replaces")
                w.string(keyID)
                w.key("old_key_expires_ms")
                w.int(oldExpires)
                if let secret = created.secret {
                    w.key("secret")
                    w.string(secret)
                }
                w.endObject()
                send(context, .created, body: w.string, keepAlive: head.isKeepAlive)
            } catch {
                failure(context, .badRequest, "invalid_key", detail: "\(error)")
            }
        } catch {
            failure(context, .badRequest, "invalid_params", field: error.field)
        }
    }

    /// Logs an operator action and appends it to the audit trail, attributed to the operator's
    /// certificate (`event` such as `admin.key.revoke`).
    func audit(_ context: ChannelHandlerContext, _ event: String, _ subject: String, details: [String: String] = [:]) {
        let operatorID = "operator:" + operatorName(context)
        app.logger.notice("admin action", metadata: ["event": "\(event)", "subject": "\(subject)", "operator_cert": "\(operatorID)"])
        var all = details
        all["subject"] = subject
        app.audit.record(event, actor: operatorID, outcome: .success, details: all)
    }

    func failure(
        _ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ code: String, field: String? = nil, detail: String? = nil
    ) {
        var w = JSONWriter()
        w.beginObject()
        w.key("error")
        w.string(code)
        if let field {
            w.key("field")
            w.string(field)
        }
        if let detail {
            w.key("detail")
            w.string(detail)
        }
        w.endObject()
        send(context, status, body: w.string, keepAlive: false)
    }

    func send(
        _ context: ChannelHandlerContext, _ status: HTTPResponseStatus, body: String, keepAlive: Bool,
        contentType: String = "application/json"
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Strict-Transport-Security", value: "max-age=31536000; includeSubDomains")
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        // The console's pages: own-origin scripts and styles only, no framing, no form posts elsewhere.
        headers.add(name: "Content-Security-Policy", value: "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
        headers.add(name: "Referrer-Policy", value: "no-referrer")
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

    private func serveConsole(context: ChannelHandlerContext, head: HTTPRequestHead, file: String?) {
        switch file {
        case nil: send(context, .ok, body: ConsoleAssets.html, keepAlive: head.isKeepAlive, contentType: "text/html; charset=utf-8")
        case "app.js": send(context, .ok, body: ConsoleAssets.javascript, keepAlive: head.isKeepAlive, contentType: "text/javascript; charset=utf-8")
        case "app.css": send(context, .ok, body: ConsoleAssets.css, keepAlive: head.isKeepAlive, contentType: "text/css; charset=utf-8")
        default: failure(context, .notFound, "not_found")
        }
    }
}
