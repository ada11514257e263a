import BulwarkCore
import BulwarkStore
import PostgresNIO

extension PostgresStore {
    // MARK: Sessions

    /// Inserts (tagged with this node) or updates a session record; an ended record stays ended,
    /// and a record another node has taken over (`moveSession`) is that node's to update.
    public func saveSession(_ record: SessionRecord) throws {
        try withConnection { db in
            try db.execute(
                """
                INSERT INTO sessions (id, account_id, credential_id, auth_method, scopes, client_ip, network, created_ms,
                    last_activity_ms, idle_timeout_ms, absolute_deadline_ms, risk_score, risk_level, mfa_verified_ms, node_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                ON CONFLICT (id) DO UPDATE SET last_activity_ms = excluded.last_activity_ms,
                    idle_timeout_ms = excluded.idle_timeout_ms, absolute_deadline_ms = excluded.absolute_deadline_ms,
                    risk_score = excluded.risk_score, risk_level = excluded.risk_level,
                    mfa_verified_ms = excluded.mfa_verified_ms
                WHERE sessions.ended_ms IS NULL AND sessions.node_id = excluded.node_id
                """,
                [
                    .text(record.id), .text(record.accountID), .text(record.credentialID), .text(record.authMethod), .text(record.scopes),
                    .text(record.clientIP), .text(record.network), .int(record.createdMs), .int(record.lastActivityMs),
                    .int(record.idleTimeoutMs), .int(record.absoluteDeadlineMs), .double(record.riskScore), .text(record.riskLevel),
                    .int(record.mfaVerifiedMs), .text(nodeID),
                ])
        }
    }

    /// Ends a session this node holds. One another node has taken over is not this node's to end:
    /// a stale copy expiring here must not end the session its client now uses elsewhere.
    public func endSession(id: String, reason: String, atMs: Int64) throws {
        try withConnection { db in
            try db.execute(
                "UPDATE sessions SET ended_ms = $1, end_reason = $2 WHERE id = $3 AND ended_ms IS NULL AND node_id = $4",
                [.int(atMs), .text(reason), .text(id), .text(nodeID)])
        }
    }

    /// Ends the sessions this node (`nodeID`) left live when it stopped; other nodes' live
    /// sessions are theirs to end.
    @discardableResult
    public func endOrphanedSessions(atMs: Int64) throws -> Int {
        try withConnection { db in
            try db.execute(
                "UPDATE sessions SET ended_ms = $1, end_reason = 'shutdown' WHERE ended_ms IS NULL AND node_id = $2", [.int(atMs), .text(nodeID)])
        }
    }

    public func liveSessionCount(accountID: String) throws -> Int {
        try withConnection { db in
            try db.row("SELECT COUNT(*) AS n FROM sessions WHERE account_id = $1 AND ended_ms IS NULL", [.text(accountID)])?.int("n") ?? 0
        }
    }

    public func sessionRecord(id: String) throws -> SessionRecord? {
        try withConnection { db in try db.row("SELECT * FROM sessions WHERE id = $1", [.text(id)]).map(Self.session) }
    }

    public func sessionRecords(accountID: String?, includeEnded: Bool, limit: Int) throws -> [SessionRecord] {
        var clauses: [String] = []
        var values: [PGValue] = []
        if let accountID {
            values.append(.text(accountID))
            clauses.append("account_id = $\(values.count)")
        }
        if !includeEnded { clauses.append("ended_ms IS NULL") }
        let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        values.append(.int(limit))
        return try withConnection { db in
            try db.rows(#"SELECT * FROM sessions \#(filter) ORDER BY created_ms DESC, id COLLATE "C" LIMIT $\#(values.count)"#, values)
                .map(Self.session)
        }
    }

    public func saveSessionSubscriptions(id: String, channels: [String]) throws {
        try withConnection { db in
            _ = try db.execute(
                "UPDATE sessions SET subscriptions = $1 WHERE id = $2 AND ended_ms IS NULL",
                [.text(SessionRecord.encodeSubscriptions(channels)), .text(id)])
        }
    }

    /// Hands a live session from `fromNode` to `toNode` (a resume on another node) if it is still
    /// live and still held by `fromNode`, and tells every node through the change feed, so the old
    /// holder lets go of it. Compare-and-set: of two nodes racing to take one session, one wins.
    public func moveSession(id: String, fromNode: String, toNode: String, nowMs: Int64) throws -> Bool {
        try changeTransaction { db in
            let moved = try db.execute(
                "UPDATE sessions SET node_id = $1 WHERE id = $2 AND ended_ms IS NULL AND node_id = $3",
                [.text(toNode), .text(id), .text(fromNode)])
            guard moved == 1 else { return false }
            try Self.appendChange(db, kind: .sessionMoved, subject: SessionMove(sessionID: id, toNode: toNode).subject, nowMs: nowMs)
            return true
        }
    }

    public func requestSessionRevocation(id: String, nowMs: Int64) throws {
        try changeTransaction { db in
            guard let row = try db.row("SELECT ended_ms FROM sessions WHERE id = $1", [.text(id)]) else {
                throw StoreError.notFound("session \(id)")
            }
            guard try row.optionalInt64("ended_ms") == nil else { throw StoreError.invalid("session \(id) has already ended") }
            try Self.appendChange(db, kind: .sessionRevoked, subject: id, nowMs: nowMs)
        }
    }

    private static func session(_ row: PostgresRandomAccessRow) throws -> SessionRecord {
        SessionRecord(
            id: try row.text("id"), accountID: try row.text("account_id"), credentialID: try row.text("credential_id"),
            authMethod: try row.text("auth_method"), scopes: try row.text("scopes"), clientIP: try row.text("client_ip"),
            network: try row.text("network"), createdMs: try row.int64("created_ms"), lastActivityMs: try row.int64("last_activity_ms"),
            idleTimeoutMs: try row.int64("idle_timeout_ms"), absoluteDeadlineMs: try row.int64("absolute_deadline_ms"),
            riskScore: try row.double("risk_score"), riskLevel: try row.text("risk_level"),
            mfaVerifiedMs: try row.optionalInt64("mfa_verified_ms"), endedMs: try row.optionalInt64("ended_ms"),
            endReason: try row.optionalText("end_reason"), nodeID: try row.text("node_id"),
            subscriptions: SessionRecord.decodeSubscriptions(try row.text("subscriptions")))
    }

    // MARK: Login origins

    public func recordLoginOrigin(credentialID: String, ip: String, network: String, nowMs: Int64) throws -> OriginNovelty {
        try transaction { db in
            let known = try db.rows("SELECT network, ip FROM credential_networks WHERE credential_id = $1", [.text(credentialID)]).map {
                (network: try $0.text("network"), ip: try $0.text("ip"))
            }
            let novelty = OriginNovelty(
                newNetwork: !known.contains { $0.network == network }, newIP: !known.contains { $0.ip == ip }, firstLogin: known.isEmpty)
            try db.execute(
                """
                INSERT INTO credential_networks (credential_id, network, ip, first_seen_ms, last_seen_ms) VALUES ($1, $2, $3, $4, $4)
                ON CONFLICT (credential_id, network, ip) DO UPDATE SET last_seen_ms = excluded.last_seen_ms
                """,
                [.text(credentialID), .text(network), .text(ip), .int(nowMs)])
            // Bounded history: the most recently seen origins of each credential are kept.
            if known.count >= SQLiteStore.maxOriginsPerCredential {
                try db.execute(
                    """
                    DELETE FROM credential_networks WHERE credential_id = $1 AND (network, ip) NOT IN (
                        SELECT network, ip FROM credential_networks WHERE credential_id = $1 ORDER BY last_seen_ms DESC LIMIT $2)
                    """,
                    [.text(credentialID), .int(SQLiteStore.maxOriginsPerCredential)])
            }
            return novelty
        }
    }
}
