import BulwarkCore
import BulwarkStore
import PostgresNIO

extension PostgresStore {
    // MARK: Audit trail

    /// Appends entries to the chain in one transaction.
    ///
    /// Several writers (every gateway node, the CLI): the transaction first takes the
    /// transaction-level advisory lock `Locks.audit` (`pg_advisory_xact_lock`), then reads the
    /// tail, links the new records to it and commits, which releases the lock. Appends are
    /// therefore serialised cluster-wide: no two writers read the same tail, so no two append the
    /// same `seq` or link to the same previous hash, and the chain stays linear and verifiable
    /// (`AuditChainVerifier`). An advisory lock rather than `SELECT … FOR UPDATE` on the tail row
    /// because it also covers the empty log (no row to lock) and never blocks readers; the cost
    /// is one lock round trip per batch, and the gateway batches its audit writes.
    @discardableResult
    public func appendAudit(_ entries: [AuditEntry]) throws -> [AuditRecord] {
        guard !entries.isEmpty else { return [] }
        return try transaction(lock: Locks.audit) { db in
            let tail = try db.row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            let appended = AuditEntry.chain(
                entries, afterSeq: try tail?.int64("seq") ?? 0, previousHash: try tail?.text("hash") ?? AuditRecord.genesisHash)
            // Multi-row INSERTs: one round trip per `rowsPerInsert` records, not per record, so a
            // burst of thousands of records (an order flood) fits well inside the call deadline.
            for start in stride(from: 0, to: appended.count, by: Self.auditRowsPerInsert) {
                let chunk = appended[start..<min(start + Self.auditRowsPerInsert, appended.count)]
                var values: [PGValue] = []
                var rows: [String] = []
                for record in chunk {
                    let base = values.count
                    rows.append("(" + (1...11).map { "$\(base + $0)" }.joined(separator: ", ") + ")")
                    values += [
                        .int(record.seq), .int(record.timeUs), .text(record.event), .text(record.actor), .text(record.credentialID),
                        .text(record.sessionHash), .text(record.clientIP), .text(record.outcome.rawValue),
                        .text(AuditDetailsCoding.encode(record.details)), .text(record.previousHash), .text(record.hash),
                    ]
                }
                _ = try db.execute(
                    "INSERT INTO audit_log (seq, ts_us, event, actor, credential, session_hash, ip, outcome, details, prev_hash, hash) VALUES "
                        + rows.joined(separator: ", "),
                    values)
            }
            return appended
        }
    }

    /// 11 parameters a row: 500 rows stay far below PostgreSQL's 65,535 bind parameters.
    static let auditRowsPerInsert = 500

    public func auditRecords(afterSeq: Int64, limit: Int) throws -> [AuditRecord] {
        try withConnection { db in
            try db.rows("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", [.int(afterSeq), .int(limit)]).map(Self.auditRecord)
        }
    }

    /// Records matching a filter, newest first. `event` may use `*` as a wildcard; matching is
    /// case-insensitive (ILIKE), as SQLite's LIKE is for ASCII.
    public func searchAudit(event: String?, actor: String?, sinceUs: Int64?, limit: Int) throws -> [AuditRecord] {
        var clauses: [String] = []
        var values: [PGValue] = []
        if let event {
            values.append(.text(event.replacingOccurrences(of: "*", with: "%")))
            clauses.append("event ILIKE $\(values.count)")
        }
        if let actor {
            values.append(.text(actor))
            clauses.append("actor = $\(values.count)")
        }
        if let sinceUs {
            values.append(.int(sinceUs))
            clauses.append("ts_us >= $\(values.count)")
        }
        values.append(.int(limit))
        let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        return try withConnection { db in
            try db.rows("SELECT * FROM audit_log \(filter) ORDER BY seq DESC LIMIT $\(values.count)", values).map(Self.auditRecord)
        }
    }

    public func auditTail() throws -> (seq: Int64, hash: String) {
        try withConnection { db in
            let row = try db.row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            return (try row?.int64("seq") ?? 0, try row?.text("hash") ?? AuditRecord.genesisHash)
        }
    }

    private static func auditRecord(_ row: PostgresRandomAccessRow) throws -> AuditRecord {
        AuditRecord(
            seq: try row.int64("seq"), timeUs: try row.int64("ts_us"), event: try row.text("event"), actor: try row.text("actor"),
            credentialID: try row.optionalText("credential"), sessionHash: try row.optionalText("session_hash"),
            clientIP: try row.optionalText("ip"), outcome: AuditRecord.Outcome(rawValue: try row.text("outcome")) ?? .info,
            details: AuditDetailsCoding.decode(try row.text("details")), previousHash: try row.text("prev_hash"), hash: try row.text("hash"))
    }

    // MARK: Kill switches

    public func engageKillSwitch(scope: KillSwitchRecord.Scope, subject: String, reason: String, by actor: String, nowMs: Int64) throws -> KillSwitchRecord {
        try changeTransaction { db in
            if let existing = try db.row(
                "SELECT * FROM kill_switches WHERE scope = $1 AND subject = $2 AND released_ms IS NULL", [.text(scope.rawValue), .text(subject)])
            {
                return try Self.killSwitch(existing)
            }
            switch scope {
            case .global: break
            case .account:
                guard try db.row("SELECT id FROM accounts WHERE id = $1", [.text(subject)]) != nil else {
                    throw StoreError.notFound("account \(subject)")
                }
            case .key:
                guard try db.row("SELECT id FROM api_keys WHERE id = $1", [.text(subject)]) != nil else {
                    throw StoreError.notFound("key \(subject)")
                }
            }
            guard
                let row = try db.row(
                    "INSERT INTO kill_switches (scope, subject, reason, engaged_by, engaged_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    [.text(scope.rawValue), .text(subject), .text(reason), .text(actor), .int(nowMs)])
            else { throw StoreError.unavailable("kill switch insert returned no id") }
            let id = try row.int64("id")
            try Self.appendChange(db, kind: .killSwitch, subject: String(id), nowMs: nowMs)
            return KillSwitchRecord(
                id: id, scope: scope, subject: subject, reason: reason, engagedBy: actor, engagedMs: nowMs, releasedMs: nil, releasedBy: nil)
        }
    }

    public func releaseKillSwitch(scope: KillSwitchRecord.Scope, subject: String, by actor: String, nowMs: Int64) throws -> KillSwitchRecord {
        try changeTransaction { db in
            guard
                let row = try db.row(
                    "SELECT id FROM kill_switches WHERE scope = $1 AND subject = $2 AND released_ms IS NULL", [.text(scope.rawValue), .text(subject)])
            else { throw StoreError.notFound("active \(scope.rawValue) kill switch for \(subject)") }
            let id = try row.int64("id")
            guard
                let updated = try db.row(
                    "UPDATE kill_switches SET released_ms = $1, released_by = $2 WHERE id = $3 RETURNING *", [.int(nowMs), .text(actor), .int(id)])
            else { throw StoreError.notFound("kill switch \(id)") }
            try Self.appendChange(db, kind: .killSwitch, subject: String(id), nowMs: nowMs)
            return try Self.killSwitch(updated)
        }
    }

    public func killSwitches(includeReleased: Bool) throws -> [KillSwitchRecord] {
        try withConnection { db in
            try db.rows("SELECT * FROM kill_switches \(includeReleased ? "" : "WHERE released_ms IS NULL") ORDER BY id").map(Self.killSwitch)
        }
    }

    public func killSwitch(id: Int64) throws -> KillSwitchRecord? {
        try withConnection { db in try db.row("SELECT * FROM kill_switches WHERE id = $1", [.int(id)]).map(Self.killSwitch) }
    }

    private static func killSwitch(_ row: PostgresRandomAccessRow) throws -> KillSwitchRecord {
        KillSwitchRecord(
            id: try row.int64("id"), scope: KillSwitchRecord.Scope(rawValue: try row.text("scope")) ?? .global, subject: try row.text("subject"),
            reason: try row.text("reason"), engagedBy: try row.text("engaged_by"), engagedMs: try row.int64("engaged_ms"),
            releasedMs: try row.optionalInt64("released_ms"), releasedBy: try row.optionalText("released_by"))
    }

    // MARK: IP blocks

    public func addIPBlock(_ network: IPNetwork, reason: String, by actor: String, nowMs: Int64, expiresMs: Int64?) throws -> IPBlockRecord {
        try changeTransaction { db in
            guard
                let row = try db.row(
                    "INSERT INTO ip_blocks (cidr, reason, created_by, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    [.text(network.description), .text(reason), .text(actor), .int(nowMs), .int(expiresMs)])
            else { throw StoreError.unavailable("ip block insert returned no id") }
            let id = try row.int64("id")
            try Self.appendChange(db, kind: .ipBlocks, subject: String(id), nowMs: nowMs)
            return IPBlockRecord(id: id, network: network, reason: reason, createdBy: actor, createdMs: nowMs, expiresMs: expiresMs, removedMs: nil)
        }
    }

    @discardableResult
    public func removeIPBlock(_ network: IPNetwork, nowMs: Int64) throws -> Int {
        try changeTransaction { db in
            let count = try db.execute(
                "UPDATE ip_blocks SET removed_ms = $1 WHERE cidr = $2 AND removed_ms IS NULL", [.int(nowMs), .text(network.description)])
            guard count > 0 else { throw StoreError.notFound("block of \(network)") }
            try Self.appendChange(db, kind: .ipBlocks, subject: network.description, nowMs: nowMs)
            return count
        }
    }

    public func ipBlocks(activeAtMs now: Int64?) throws -> [IPBlockRecord] {
        try withConnection { db in
            try db.rows("SELECT * FROM ip_blocks ORDER BY id").compactMap { row -> IPBlockRecord? in
                guard let network = IPNetwork(try row.text("cidr")) else { return nil }
                let record = IPBlockRecord(
                    id: try row.int64("id"), network: network, reason: try row.text("reason"), createdBy: try row.text("created_by"),
                    createdMs: try row.int64("created_ms"), expiresMs: try row.optionalInt64("expires_ms"),
                    removedMs: try row.optionalInt64("removed_ms"))
                return now.map { record.isActive(atMs: $0) ? record : nil } ?? record
            }
        }
    }
}
