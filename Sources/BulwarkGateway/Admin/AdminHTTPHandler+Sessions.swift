import BulwarkCore
import BulwarkSessions
import BulwarkStore
import NIOCore
import NIOHTTP1

/// Operator endpoints for sessions and MFA enrolment.
extension AdminHTTPHandler {
    /// `GET /admin/v1/sessions/{id}`: the live session (with its connections), else its stored record.
    func showSession(context: ChannelHandlerContext, head: HTTPRequestHead, sessionID: String) {
        let now = app.clock.nowMs()
        var w = JSONWriter()
        if let live = app.sessions.session(id: sessionID) {
            Render.session(live, boundConnections: app.sessions.boundConnections(sessionID: sessionID), nowMs: now, to: &w)
        } else if let record = try? app.store.sessionRecord(id: sessionID) {
            SessionRendering.write(record, to: &w)
        } else {
            return failure(context, .notFound, "session_not_found")
        }
        send(context, .ok, body: w.string, keepAlive: head.isKeepAlive)
    }

    /// `POST /admin/v1/sessions/{id}/revoke`: ends it on this node at once (4002 on every socket).
    func revokeSession(context: ChannelHandlerContext, head: HTTPRequestHead, sessionID: String) {
        guard app.sessions.end(id: sessionID, reason: .revoked, nowMs: app.clock.nowMs()) else {
            return failure(context, .notFound, "session_not_found")
        }
        audit(context, "admin.session.revoke", SessionHash.of(sessionID))
        send(context, .ok, body: #"{"revoked":true}"#, keepAlive: head.isKeepAlive)
    }

    /// `/admin/v1/accounts/{id}/mfa`: `POST` enrols (returns the otpauth URI, the QR code PNG in
    /// base64 and the recovery codes, once), `GET` shows the status, `DELETE` removes the factor,
    /// `POST .../mfa/unlock` ends a lockout.
    func routeMFA(context: ChannelHandlerContext, head: HTTPRequestHead, accountID: String, action: String?, extra: Bool) {
        guard !extra else { return failure(context, .notFound, "not_found") }
        switch (head.method, action) {
        case (.GET, nil):
            guard let status = try? app.mfa.status(accountID: accountID) else { return failure(context, .internalServerError, "store_unavailable") }
            var w = JSONWriter()
            MFARendering.status(status, to: &w)
            send(context, .ok, body: w.string, keepAlive: head.isKeepAlive)
        case (.POST, nil):
            guard let reader = jsonBody(context, allowed: ["algorithm", "digits"]) else { return }
            do throws(RPCError) {
                let algorithm = try reader.enumValue("algorithm", as: TOTPAlgorithmName.self) ?? .sha1
                let digits = Int(try reader.int("digits", in: 6...8) ?? 6)
                do {
                    let enrollment = try app.mfa.enroll(accountID: accountID, algorithm: algorithm.totp, digits: digits, nowMs: app.clock.nowMs())
                    audit(context, "admin.mfa.enroll", accountID)
                    var w = JSONWriter()
                    MFARendering.enrollment(enrollment, to: &w)
                    send(context, .created, body: w.string, keepAlive: head.isKeepAlive)
                } catch {
                    failure(context, .badRequest, "mfa_enrolment_failed", detail: "\(error)")
                }
            } catch {
                failure(context, .badRequest, "invalid_params", field: error.field)
            }
        case (.DELETE, nil):
            do {
                try app.mfa.remove(accountID: accountID)
                audit(context, "admin.mfa.remove", accountID)
                send(context, .ok, body: #"{"removed":true}"#, keepAlive: head.isKeepAlive)
            } catch {
                failure(context, .notFound, "mfa_not_enrolled")
            }
        case (.POST, "unlock"):
            do {
                try app.mfa.unlock(accountID: accountID)
                audit(context, "admin.mfa.unlock", accountID)
                send(context, .ok, body: #"{"unlocked":true}"#, keepAlive: head.isKeepAlive)
            } catch {
                failure(context, .notFound, "mfa_not_enrolled")
            }
        default:
            failure(context, .notFound, "not_found")
        }
    }
}
