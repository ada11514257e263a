import BulwarkCore

/// The rate-limit methods of a connection (docs/rate-limits.md); the charging itself happens in
/// `ConnectionRateGuard`, called once at the top of `handle`.
extension Connection {
    /// `public/usage {"enabled": bool}`: turns the `usage` member of this connection's responses
    /// off or on again (on by default). Rejections always carry their bucket and retry time.
    func configureUsage(_ params: JSONObject) throws(RPCError) -> ResultWriter {
        let reader = try ParamsReader(params, allowed: ["enabled"])
        guard let enabled = try reader.bool("enabled") else { throw RPCError.invalidParams("enabled", "required") }
        rateGuard.usageEnabled = enabled
        return { w in
            w.beginObject()
            w.key("usage")
            w.bool(enabled)
            w.endObject()
        }
    }

    /// The `rate_limits` member of `private/session.status`: the account's tier and every bucket
    /// that applies to this connection, its address and its account.
    func rateLimitStatus(accountID: String, nowMs: Int64) -> @Sendable (inout JSONWriter) -> Void {
        let tier = app.rateLimits.accounts.tier(accountID: accountID)
        let rows = rateGuard.status(accountID: accountID, nowMs: nowMs)
        let open = app.rateLimits.admission.openConnections(ip: clientIP)
        let maxOpen = app.rateLimits.settings.ipMaxConnections
        return { w in
            w.key("rate_limits")
            w.beginObject()
            w.key("tier")
            w.string(tier.rawValue)
            w.key("buckets")
            w.beginArray()
            for row in rows {
                w.beginObject()
                w.key("bucket")
                w.string(row.bucket.rawValue)
                w.key("scope")
                w.string(row.bucket.scope.rawValue)
                w.key("limit")
                w.int(row.decision.limit.count)
                w.key("period_ms")
                w.int(row.decision.limit.periodMs)
                w.key("remaining")
                w.int(row.decision.remaining)
                w.key("reset_ms")
                w.int(row.decision.resetMs)
                w.endObject()
            }
            w.beginObject()
            w.key("bucket")
            w.string(RateBucket.ipConcurrent.rawValue)
            w.key("scope")
            w.string(RateBucket.ipConcurrent.scope.rawValue)
            w.key("limit")
            w.int(Int64(maxOpen))
            w.key("remaining")
            w.int(Int64(max(0, maxOpen - open)))
            w.endObject()
            w.endArray()
            w.endObject()
        }
    }
}
