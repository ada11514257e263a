import BulwarkCore
import BulwarkStore
import Foundation
import NIOCore
import NIOHTTP1

/// Operator endpoints for bans and account tiers (docs/rate-limits.md).
extension AdminHTTPHandler {
    /// `GET /admin/v1/bans`: the bans in force on this node.
    func listBans(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let now = app.clock.nowMs()
        var w = JSONWriter()
        w.beginObject()
        w.key("bans")
        w.beginArray()
        for ban in app.rateLimits.abuse.bans.active(nowMs: now) { RateLimitRendering.write(ban, to: &w) }
        w.endArray()
        w.endObject()
        send(context, .ok, body: w.string, keepAlive: head.isKeepAlive)
    }

    /// `POST /admin/v1/bans/{subject}/lift` (`ip:…` or `key:…`, percent-encoded or not).
    func liftBan(context: ChannelHandlerContext, head: HTTPRequestHead, subjectText: String) {
        guard let subject = BanSubject(subjectText.removingPercentEncoding ?? subjectText) else {
            return failure(context, .badRequest, "invalid_subject")
        }
        let now = app.clock.nowMs()
        let lifted = app.rateLimits.abuse.lift(subject, nowMs: now)
        // The stored record too, so that `bans list` agrees; other nodes learn it from the change feed.
        let stored = (try? app.store.liftBan(subject: subject.description, nowMs: now)) != nil
        guard lifted || stored else { return failure(context, .notFound, "ban_not_found") }
        audit(context, "admin lifted ban", subject.description)
        send(context, .ok, body: #"{"lifted":true}"#, keepAlive: head.isKeepAlive)
    }

    /// `POST /admin/v1/accounts/{id}/tier` with `{"tier": "standard"|"professional"|"market_maker"}`.
    func setTier(context: ChannelHandlerContext, head: HTTPRequestHead, accountID: String) {
        guard let reader = jsonBody(context, allowed: ["tier"]) else { return }
        do throws(RPCError) {
            guard let tier = try reader.enumValue("tier", as: AccountTier.self) else { throw RPCError.invalidParams("tier", "required") }
            do {
                try app.store.setAccountTier(id: accountID, tier, nowMs: app.clock.nowMs())
            } catch {
                return failure(context, .notFound, "account_not_found")
            }
            app.rateLimits.accounts.forgetTier(accountID: accountID)
            audit(context, "admin set account tier", "\(accountID) \(tier.rawValue)")
            send(context, .ok, body: "{\"tier\":\"\(tier.rawValue)\"}", keepAlive: head.isKeepAlive)
        } catch {
            failure(context, .badRequest, "invalid_params", field: error.field)
        }
    }
}

/// How bans are shown to operators (admin API and CLI).
public enum RateLimitRendering {
    public static func write(_ ban: BanList.Ban, to w: inout JSONWriter) {
        write(subject: ban.subject.description, sinceMs: ban.sinceMs, untilMs: ban.untilMs, level: ban.level, reason: ban.reason, to: &w)
    }

    public static func write(_ ban: BanRecord, to w: inout JSONWriter) {
        write(subject: ban.subject, sinceMs: ban.sinceMs, untilMs: ban.untilMs, level: ban.level, reason: ban.reason, to: &w)
    }

    static func write(subject: String, sinceMs: Int64, untilMs: Int64, level: Int, reason: String, to w: inout JSONWriter) {
        w.beginObject()
        w.key("subject")
        w.string(subject)
        w.key("since_ms")
        w.int(sinceMs)
        w.key("until_ms")
        w.int(untilMs)
        w.key("level")
        w.int(Int64(level))
        w.key("reason")
        w.string(reason)
        w.endObject()
    }
}
