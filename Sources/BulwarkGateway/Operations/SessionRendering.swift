import BulwarkCore
import BulwarkStore

/// The JSON shape of a stored session record, for the CLI and the admin API.
public enum SessionRendering {
    /// How session ids appear in logs and the audit trail: a short SHA-256 prefix, never the id.
    public static func hash(_ sessionID: String) -> String { SessionHash.of(sessionID) }

    /// A stored session record (ended sessions, or sessions of another node).
    public static func write(_ record: SessionRecord, to w: inout JSONWriter) {
        w.beginObject()
        Render.field(&w, "session_id", record.id)
        Render.field(&w, "account_id", record.accountID)
        Render.field(&w, "key_id", record.credentialID)
        Render.field(&w, "auth_method", record.authMethod)
        w.key("scopes")
        w.beginArray()
        for scope in record.scopes.split(separator: ",") { w.string(String(scope)) }
        w.endArray()
        Render.field(&w, "client_ip", record.clientIP)
        Render.field(&w, "network", record.network)
        w.key("created_ms")
        w.int(record.createdMs)
        w.key("last_activity_ms")
        w.int(record.lastActivityMs)
        w.key("idle_timeout_ms")
        w.int(record.idleTimeoutMs)
        w.key("absolute_deadline_ms")
        w.int(record.absoluteDeadlineMs)
        w.key("risk")
        w.beginObject()
        w.key("score")
        Render.score(record.riskScore, to: &w)
        Render.field(&w, "level", record.riskLevel)
        w.endObject()
        if let verified = record.mfaVerifiedMs {
            w.key("mfa_verified_ms")
            w.int(verified)
        }
        if !record.nodeID.isEmpty {
            // The gateway node holding the session (a cluster): it changes when a resume lands elsewhere.
            Render.field(&w, "node", record.nodeID)
        }
        w.key("live")
        w.bool(record.isLive)
        if let ended = record.endedMs {
            w.key("ended_ms")
            w.int(ended)
            Render.field(&w, "end_reason", record.endReason ?? "")
        }
        w.endObject()
    }
}
