import BulwarkCore
import GRDB

/// A session as the store keeps it: what operators list and audit after the fact.
public struct SessionRecord: Sendable, Equatable {
    public var id: String
    public var accountID: String
    public var credentialID: String
    public var authMethod: String
    public var scopes: String
    public var clientIP: String
    public var network: String
    public var createdMs: Int64
    public var lastActivityMs: Int64
    public var idleTimeoutMs: Int64
    public var absoluteDeadlineMs: Int64
    public var riskScore: Double
    public var riskLevel: String
    public var mfaVerifiedMs: Int64?
    public var endedMs: Int64?
    public var endReason: String?
    /// The gateway node holding the session ('' on SQLite, one node per file).
    public var nodeID: String
    /// The channels the session is subscribed to, kept only where another node may take the
    /// session over (a resume there restores them).
    public var subscriptions: [String]

    public init(
        id: String, accountID: String, credentialID: String, authMethod: String, scopes: String, clientIP: String,
        network: String, createdMs: Int64, lastActivityMs: Int64, idleTimeoutMs: Int64, absoluteDeadlineMs: Int64,
        riskScore: Double, riskLevel: String, mfaVerifiedMs: Int64?, endedMs: Int64? = nil, endReason: String? = nil,
        nodeID: String = "", subscriptions: [String] = []
    ) {
        self.id = id
        self.accountID = accountID
        self.credentialID = credentialID
        self.authMethod = authMethod
        self.scopes = scopes
        self.clientIP = clientIP
        self.network = network
        self.createdMs = createdMs
        self.lastActivityMs = lastActivityMs
        self.idleTimeoutMs = idleTimeoutMs
        self.absoluteDeadlineMs = absoluteDeadlineMs
        self.riskScore = riskScore
        self.riskLevel = riskLevel
        self.mfaVerifiedMs = mfaVerifiedMs
        self.endedMs = endedMs
        self.endReason = endReason
        self.nodeID = nodeID
        self.subscriptions = subscriptions
    }

    /// How `subscriptions` is stored: channel names never contain a space (PROTOCOL.md §7).
    public static func encodeSubscriptions(_ channels: [String]) -> String { channels.sorted().joined(separator: " ") }
    public static func decodeSubscriptions(_ stored: String) -> [String] { stored.split(separator: " ").map(String.init) }

    public var isLive: Bool { endedMs == nil }
}

/// What the store knew about a login's origin before recording it.
public struct OriginNovelty: Sendable, Equatable {
    /// The credential never logged in from this /24 (/48) before.
    public let newNetwork: Bool
    /// The credential never logged in from this exact address before.
    public let newIP: Bool
    /// The credential's first login ever (no history to compare against).
    public let firstLogin: Bool

    public init(newNetwork: Bool, newIP: Bool, firstLogin: Bool) {
        self.newNetwork = newNetwork
        self.newIP = newIP
        self.firstLogin = firstLogin
    }
}

extension SQLiteStore {
    /// Origins remembered per credential for the "new network" signal (oldest forgotten first).
    public static let maxOriginsPerCredential = 256

    // MARK: Sessions

    /// Inserts or updates a session record (the live fields; an ended record stays ended).
    public func saveSession(_ record: SessionRecord) throws {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO sessions (id, account_id, credential_id, auth_method, scopes, client_ip, network, created_ms,
                        last_activity_ms, idle_timeout_ms, absolute_deadline_ms, risk_score, risk_level, mfa_verified_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET last_activity_ms = excluded.last_activity_ms,
                        idle_timeout_ms = excluded.idle_timeout_ms, absolute_deadline_ms = excluded.absolute_deadline_ms,
                        risk_score = excluded.risk_score, risk_level = excluded.risk_level,
                        mfa_verified_ms = excluded.mfa_verified_ms
                    WHERE ended_ms IS NULL
                    """,
                arguments: [
                    record.id, record.accountID, record.credentialID, record.authMethod, record.scopes, record.clientIP,
                    record.network, record.createdMs, record.lastActivityMs, record.idleTimeoutMs, record.absoluteDeadlineMs,
                    record.riskScore, record.riskLevel, record.mfaVerifiedMs,
                ])
        }
    }

    public func endSession(id: String, reason: String, atMs: Int64) throws {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE sessions SET ended_ms = ?, end_reason = ? WHERE id = ? AND ended_ms IS NULL",
                arguments: [atMs, reason, id])
        }
    }

    /// Marks sessions a previous run left live as ended (`shutdown`): their connections are gone.
    @discardableResult
    public func endOrphanedSessions(atMs: Int64) throws -> Int {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE sessions SET ended_ms = ?, end_reason = 'shutdown' WHERE ended_ms IS NULL", arguments: [atMs])
            return db.changesCount
        }
    }

    public func liveSessionCount(accountID: String) throws -> Int {
        try pool.read { db in
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM sessions WHERE account_id = ? AND ended_ms IS NULL", arguments: [accountID]) ?? 0
        }
    }

    public func sessionRecord(id: String) throws -> SessionRecord? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM sessions WHERE id = ?", arguments: [id]).map(Self.session) }
    }

    /// Sessions, newest first; live ones only unless `includeEnded`.
    public func sessionRecords(accountID: String?, includeEnded: Bool, limit: Int) throws -> [SessionRecord] {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let accountID {
            clauses.append("account_id = ?")
            arguments += [accountID]
        }
        if !includeEnded { clauses.append("ended_ms IS NULL") }
        let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        arguments += [limit]
        return try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM sessions \(filter) ORDER BY created_ms DESC, id LIMIT ?", arguments: arguments
            ).map(Self.session)
        }
    }

    /// The channels a live session is subscribed to (cluster mode: another node resuming it
    /// subscribes them again).
    public func saveSessionSubscriptions(id: String, channels: [String]) throws {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE sessions SET subscriptions = ? WHERE id = ? AND ended_ms IS NULL",
                arguments: [SessionRecord.encodeSubscriptions(channels), id])
        }
    }

    /// An operator's revocation from another process: the running gateway ends the session and
    /// closes its sockets when it reads the change feed.
    public func requestSessionRevocation(id: String, nowMs: Int64) throws {
        try pool.write { db in
            guard let ended = try Row.fetchOne(db, sql: "SELECT ended_ms FROM sessions WHERE id = ?", arguments: [id]) else {
                throw StoreError.notFound("session \(id)")
            }
            guard (ended["ended_ms"] as Int64?) == nil else { throw StoreError.invalid("session \(id) has already ended") }
            try Self.appendChange(db, kind: .sessionRevoked, subject: id, nowMs: nowMs)
        }
    }

    private static func session(_ row: Row) -> SessionRecord {
        SessionRecord(
            id: row["id"], accountID: row["account_id"], credentialID: row["credential_id"], authMethod: row["auth_method"],
            scopes: row["scopes"], clientIP: row["client_ip"], network: row["network"], createdMs: row["created_ms"],
            lastActivityMs: row["last_activity_ms"], idleTimeoutMs: row["idle_timeout_ms"],
            absoluteDeadlineMs: row["absolute_deadline_ms"], riskScore: row["risk_score"], riskLevel: row["risk_level"],
            mfaVerifiedMs: row["mfa_verified_ms"], endedMs: row["ended_ms"], endReason: row["end_reason"], nodeID: row["node_id"],
            subscriptions: SessionRecord.decodeSubscriptions(row["subscriptions"]))
    }

    // MARK: Login origins

    /// Records that a credential logged in from `ip` and says what was new about it.
    public func recordLoginOrigin(credentialID: String, ip: String, network: String, nowMs: Int64) throws -> OriginNovelty {
        try pool.write { db in
            let known = try Row.fetchAll(
                db, sql: "SELECT network, ip FROM credential_networks WHERE credential_id = ?", arguments: [credentialID])
            let novelty = OriginNovelty(
                newNetwork: !known.contains { ($0["network"] as String) == network },
                newIP: !known.contains { ($0["ip"] as String) == ip }, firstLogin: known.isEmpty)
            try db.execute(
                sql: """
                    INSERT INTO credential_networks (credential_id, network, ip, first_seen_ms, last_seen_ms) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(credential_id, network, ip) DO UPDATE SET last_seen_ms = excluded.last_seen_ms
                    """,
                arguments: [credentialID, network, ip, nowMs, nowMs])
            // Bounded history: the most recently seen origins of each credential are kept.
            if known.count >= Self.maxOriginsPerCredential {
                try db.execute(
                    sql: """
                        DELETE FROM credential_networks WHERE credential_id = ? AND rowid NOT IN (
                            SELECT rowid FROM credential_networks WHERE credential_id = ? ORDER BY last_seen_ms DESC LIMIT ?)
                        """,
                    arguments: [credentialID, credentialID, Self.maxOriginsPerCredential])
            }
            return novelty
        }
    }
}
