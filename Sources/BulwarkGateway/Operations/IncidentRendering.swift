import BulwarkCore
import BulwarkStore
import Crypto
import Foundation

/// JSON shapes of incident-response records, for the CLI and the admin API.
public enum IncidentRendering {
    /// `{"kill_switches":[…]}`
    public static func killSwitches(_ records: [KillSwitchRecord]) -> String {
        list("kill_switches", records, killSwitch)
    }

    /// `{"ip_blocks":[…]}`
    public static func ipBlocks(_ records: [IPBlockRecord]) -> String {
        list("ip_blocks", records, ipBlock)
    }

    private static func list<T>(_ name: String, _ items: [T], _ write: (T, inout JSONWriter) -> Void) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key(name)
        w.beginArray()
        for item in items { write(item, &w) }
        w.endArray()
        w.endObject()
        return w.string
    }

    public static func killSwitch(_ record: KillSwitchRecord, to w: inout JSONWriter) {
        w.beginObject()
        w.key("id")
        w.int(record.id)
        for (key, value) in [("scope", record.scope.rawValue), ("subject", record.subject), ("reason", record.reason), ("engaged_by", record.engagedBy)] {
            w.key(key)
            w.string(value)
        }
        w.key("engaged_ms")
        w.int(record.engagedMs)
        w.key("active")
        w.bool(record.isActive)
        if let released = record.releasedMs {
            w.key("released_ms")
            w.int(released)
            w.key("released_by")
            w.string(record.releasedBy ?? "")
        }
        w.endObject()
    }

    public static func ipBlock(_ record: IPBlockRecord, to w: inout JSONWriter) {
        w.beginObject()
        w.key("id")
        w.int(record.id)
        for (key, value) in [("cidr", record.network.description), ("reason", record.reason), ("created_by", record.createdBy)] {
            w.key(key)
            w.string(value)
        }
        w.key("created_ms")
        w.int(record.createdMs)
        if let expires = record.expiresMs {
            w.key("expires_ms")
            w.int(expires)
        }
        if let removed = record.removedMs {
            w.key("removed_ms")
            w.int(removed)
        }
        w.endObject()
    }

    /// A security event as the admin API lists it and the webhook receives it (with the response taken).
    public static func securityEvent(_ event: SecurityEvent, response: String? = nil, to w: inout JSONWriter) {
        w.beginObject()
        for (key, value) in [("rule", event.rule), ("severity", event.severity.rawValue), ("subject", event.subject)] {
            w.key(key)
            w.string(value)
        }
        if let response {
            w.key("response")
            w.string(response)
        }
        w.key("ts_ms")
        w.int(event.atMs)
        w.key("details")
        w.beginObject()
        for key in event.details.keys.sorted() {
            w.key(key)
            w.string(event.details[key]!)
        }
        w.endObject()
        w.endObject()
    }
}

/// `bulwark audit verify` and `GET /admin/v1/audit/verify`: the whole chain, page by page.
public enum AuditVerification {
    /// Reads the whole trail page by page. A store error is thrown, never taken for the end of the
    /// chain (a verification that stopped early must not report "intact"). `progress` gets the
    /// number of records checked after each page.
    public static func run(
        store: any Store, identities: [Curve25519.Signing.PublicKey], progress: (Int) -> Void = { _ in }
    ) throws -> AuditChainVerifier.Summary {
        var verifier = AuditChainVerifier(identities: identities)
        var after: Int64 = 0
        var checked = 0
        while true {
            let page = try store.auditRecords(afterSeq: after, limit: 2000)
            guard let last = page.last else { break }
            for record in page where !verifier.add(record) { return verifier.result }
            after = last.seq
            checked += page.count
            progress(checked)
        }
        return verifier.result
    }

    public static func json(_ summary: AuditChainVerifier.Summary) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("ok")
        w.bool(summary.problem == nil)
        w.key("records")
        w.int(Int64(summary.records))
        w.key("checkpoints")
        w.int(Int64(summary.checkpoints))
        w.key("last_hash")
        w.string(summary.lastHash)
        if let problem = summary.problem {
            w.key("first_bad_seq")
            w.int(problem.seq)
            w.key("problem")
            w.string(problem.description)
        }
        w.endObject()
        return w.string
    }
}
