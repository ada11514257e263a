import BulwarkCore
import Foundation
import GRDB

/// An audit event before it joins the chain (the store assigns `seq` and the hashes).
public struct AuditEntry: Sendable, Equatable {
    public var timeUs: Int64
    public var event: String
    public var actor: String
    public var credentialID: String?
    public var sessionHash: String?
    public var clientIP: String?
    public var outcome: AuditRecord.Outcome
    public var details: [String: String]

    public init(
        timeUs: Int64, event: String, actor: String, credentialID: String? = nil, sessionHash: String? = nil, clientIP: String? = nil,
        outcome: AuditRecord.Outcome, details: [String: String] = [:]
    ) {
        self.timeUs = timeUs
        self.event = event
        self.actor = actor
        self.credentialID = credentialID
        self.sessionHash = sessionHash
        self.clientIP = clientIP
        self.outcome = outcome
        self.details = details
    }
}

extension AuditEntry {
    /// The records `entries` become when appended after the chain's tail (`seq`, `hash`): each
    /// numbered one past the previous and linked to its hash. Every backend appends exactly these.
    public static func chain(_ entries: [AuditEntry], afterSeq tailSeq: Int64, previousHash tailHash: String) -> [AuditRecord] {
        var seq = tailSeq
        var previous = tailHash
        return entries.map { entry in
            seq += 1
            let record = AuditRecord(
                seq: seq, timeUs: entry.timeUs, event: entry.event, actor: entry.actor, credentialID: entry.credentialID,
                sessionHash: entry.sessionHash, clientIP: entry.clientIP, outcome: entry.outcome, details: entry.details,
                previousHash: previous)
            previous = record.hash
            return record
        }
    }
}

/// The `details` column of `audit_log`: compact JSON, keys sorted (the same on every backend).
public enum AuditDetailsCoding {
    public static func encode(_ details: [String: String]) -> String {
        var w = JSONWriter()
        w.beginObject()
        for key in details.keys.sorted() {
            w.key(key)
            w.string(details[key]!)
        }
        w.endObject()
        return w.string
    }

    public static func decode(_ text: String?) -> [String: String] {
        var details: [String: String] = [:]
        if let text, case .object(let object)? = try? StrictJSONParser().parse(Array(text.utf8)) {
            for (key, value) in object.members { if case .string(let string) = value { details[key] = string } }
        }
        return details
    }
}

extension SQLiteStore {
    /// Appends entries to the chain in one transaction. Each write transaction reads the chain's
    /// tail first; SQLite runs one writer at a time, so the gateway and the CLI appending at once
    /// still produce one linear chain.
    @discardableResult
    public func appendAudit(_ entries: [AuditEntry]) throws -> [AuditRecord] {
        guard !entries.isEmpty else { return [] }
        return try pool.write { db in
            let tail = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            let appended = AuditEntry.chain(entries, afterSeq: tail?["seq"] ?? 0, previousHash: tail?["hash"] ?? AuditRecord.genesisHash)
            // Cached: prepared once per connection rather than parsed (and authorized) per record.
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO audit_log (seq, ts_us, event, actor, credential, session_hash, ip, outcome, details, prev_hash, hash)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            for record in appended {
                try insert.execute(
                    arguments: [
                        record.seq, record.timeUs, record.event, record.actor, record.credentialID, record.sessionHash, record.clientIP,
                        record.outcome.rawValue, Self.encodeDetails(record.details), record.previousHash, record.hash,
                    ])
            }
            return appended
        }
    }

    /// Records in `seq` order, from `afterSeq`, in pages (for verify and export).
    public func auditRecords(afterSeq: Int64, limit: Int) throws -> [AuditRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [afterSeq, limit])
                .map(Self.auditRecord)
        }
    }

    /// Records matching a filter, newest first (operators' search).
    public func searchAudit(event: String?, actor: String?, sinceUs: Int64?, limit: Int) throws -> [AuditRecord] {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let event {
            clauses.append("event LIKE ?")
            arguments += [event.replacingOccurrences(of: "*", with: "%")]
        }
        if let actor {
            clauses.append("actor = ?")
            arguments += [actor]
        }
        if let sinceUs {
            clauses.append("ts_us >= ?")
            arguments += [sinceUs]
        }
        arguments += [limit]
        let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        return try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_log \(filter) ORDER BY seq DESC LIMIT ?", arguments: arguments).map(Self.auditRecord)
        }
    }

    public func auditTail() throws -> (seq: Int64, hash: String) {
        try pool.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            return (row?["seq"] ?? 0, row?["hash"] ?? AuditRecord.genesisHash)
        }
    }

    static func encodeDetails(_ details: [String: String]) -> String { AuditDetailsCoding.encode(details) }

    private static func auditRecord(_ row: Row) -> AuditRecord {
        let details = AuditDetailsCoding.decode(row["details"])
        // The stored hash is taken as is: verification recomputes it from the stored fields.
        return AuditRecord(
            seq: row["seq"], timeUs: row["ts_us"], event: row["event"], actor: row["actor"], credentialID: row["credential"],
            sessionHash: row["session_hash"], clientIP: row["ip"], outcome: AuditRecord.Outcome(rawValue: row["outcome"]) ?? .info,
            details: details, previousHash: row["prev_hash"], hash: row["hash"])
    }
}
