import BulwarkCore
import BulwarkStore
import NIOCore
import NIOHTTP1

/// Operator endpoints for incident response: kill switches, IP blocks, account-wide session
/// revocation, the audit trail and security events. Changes go to the store and reach this node
/// (and, later, every node) through the change feed, the same path as the CLI's.
extension AdminHTTPHandler {
    func routeIncident(context: ChannelHandlerContext, head: HTTPRequestHead, parts: [String]) -> Bool {
        let now = app.clock.nowMs()
        switch (head.method, Array(parts.dropFirst(2))) {
        case (.GET, ["kill-switches"]):
            let records = (try? app.store.killSwitches(includeReleased: query(head)["all"] == "true")) ?? []
            send(context, .ok, body: IncidentRendering.killSwitches(records), keepAlive: head.isKeepAlive)
        case (.POST, ["kill-switches"]), (.POST, ["kill-switches", "release"]):
            let release = parts.count == 4
            guard let reader = jsonBody(context, allowed: ["scope", "subject", "reason"]) else { return true }
            do throws(RPCError) {
                guard let scope = try reader.enumValue("scope", as: KillSwitchRecord.Scope.self) else { throw .invalidParams("scope", "required") }
                let subject = scope == .global ? "*" : try reader.requiredString("subject", maxLength: 64)
                let reason = try reader.string("reason", maxLength: 256) ?? ""
                do {
                    let record =
                        release
                        ? try app.store.releaseKillSwitch(scope: scope, subject: subject, by: "operator:" + operatorName(context), nowMs: now)
                        : try app.store.engageKillSwitch(
                            scope: scope, subject: subject, reason: reason.isEmpty ? "operator" : reason, by: "operator:" + operatorName(context), nowMs: now)
                    audit(context, release ? "admin.killswitch.release" : "admin.killswitch.engage", subject, details: ["scope": scope.rawValue, "reason": reason])
                    applyChangesNow()
                    var w = JSONWriter()
                    IncidentRendering.killSwitch(record, to: &w)
                    send(context, release ? .ok : .created, body: w.string, keepAlive: head.isKeepAlive)
                } catch {
                    failure(context, .notFound, release ? "kill_switch_not_engaged" : "subject_not_found", detail: "\(error)")
                }
            } catch {
                failure(context, .badRequest, "invalid_params", field: error.field)
            }
        case (.GET, ["ip-blocks"]):
            let records = (try? app.store.ipBlocks(activeAtMs: query(head)["all"] == "true" ? nil : now)) ?? []
            send(context, .ok, body: IncidentRendering.ipBlocks(records), keepAlive: head.isKeepAlive)
        case (.POST, ["ip-blocks"]), (.POST, ["ip-blocks", "remove"]):
            let remove = parts.count == 4
            guard let reader = jsonBody(context, allowed: remove ? ["cidr"] : ["cidr", "reason", "expires_in_s"]) else { return true }
            do throws(RPCError) {
                guard let network = IPNetwork(try reader.requiredString("cidr", maxLength: 64)) else { throw .invalidParams("cidr", "invalid_cidr") }
                if remove {
                    guard (try? app.store.removeIPBlock(network, nowMs: now)) != nil else {
                        failure(context, .notFound, "not_blocked")
                        return true
                    }
                    audit(context, "admin.ipblock.remove", network.description)
                    applyChangesNow()
                    send(context, .ok, body: #"{"removed":true}"#, keepAlive: head.isKeepAlive)
                } else {
                    let reason = try reader.string("reason", maxLength: 256) ?? "operator"
                    let seconds = try reader.int("expires_in_s", in: 1...31_536_000)
                    guard let record = try? app.store.addIPBlock(
                        network, reason: reason, by: "operator:" + operatorName(context), nowMs: now, expiresMs: seconds.map { now + $0 * 1000 })
                    else {
                        failure(context, .internalServerError, "store_unavailable")
                        return true
                    }
                    audit(context, "admin.ipblock.add", network.description, details: ["reason": reason])
                    applyChangesNow()
                    var w = JSONWriter()
                    IncidentRendering.ipBlock(record, to: &w)
                    send(context, .created, body: w.string, keepAlive: head.isKeepAlive)
                }
            } catch {
                failure(context, .badRequest, "invalid_params", field: error.field)
            }
        case (.POST, let rest) where rest.count == 4 && rest[0] == "accounts" && rest[2] == "sessions" && rest[3] == "revoke":
            let ended = app.sessions.endAll(accountID: rest[1], reason: .revoked, nowMs: now)
            audit(context, "admin.account.sessions.revoke", rest[1], details: ["sessions_ended": String(ended)])
            send(context, .ok, body: "{\"sessions_ended\":\(ended)}", keepAlive: head.isKeepAlive)
        case (.GET, ["audit"]):
            let q = query(head)
            let records = (try? app.store.searchAudit(
                event: q["event"], actor: q["actor"], sinceUs: q["since_us"].flatMap(Int64.init), limit: min(Int(q["limit"] ?? "") ?? 200, 5000))) ?? []
            var body = "{\"records\":["
            body += records.map(\.exportJSON).joined(separator: ",")
            body += "]}"
            send(context, .ok, body: body, keepAlive: head.isKeepAlive)
        case (.GET, ["audit", "verify"]):
            app.audit.flush()
            guard let summary = try? AuditVerification.run(store: app.store, identities: [app.identity.privateKey.publicKey]) else {
                failure(context, .serviceUnavailable, "store_unavailable")
                return true
            }
            send(context, summary.problem == nil ? .ok : .conflict, body: AuditVerification.json(summary), keepAlive: head.isKeepAlive)
        case (.GET, ["security-events"]):
            var w = JSONWriter()
            w.beginObject()
            w.key("events")
            w.beginArray()
            for event in app.monitor.recentEvents { IncidentRendering.securityEvent(event, to: &w) }
            w.endArray()
            w.endObject()
            send(context, .ok, body: w.string, keepAlive: head.isKeepAlive)
        default:
            return false
        }
        return true
    }

    /// The query string as a dictionary (last value wins; values are only filters).
    private func query(_ head: HTTPRequestHead) -> [String: String] {
        guard let query = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return [:] }
        var result: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            if parts.count == 2 { result[parts[0]] = parts[1] }
        }
        return result
    }

    /// Applies store changes at once instead of waiting for the next poll (a deposit reaches the
    /// venue, a block closes its connections).
    func applyChangesNow() {
        let app = self.app
        Task { await app.changeFeed.catchUp() }
    }
}
