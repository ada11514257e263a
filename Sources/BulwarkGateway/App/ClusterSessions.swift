import BulwarkCore
import BulwarkSessions
import BulwarkStore

/// An account's sessions across every gateway node sharing one PostgreSQL store: the per-account
/// limit counts them all, and an account's `private/session.revoke` reaches the ones held elsewhere.
///
/// Each node's `SessionRegistry` enforces `session.max_per_account` exactly for its own sessions;
/// with several nodes the live sessions in the shared store are counted before a login creates one.
/// At the limit the login is refused (`too_many_sessions`) or the account's oldest sessions end:
/// this node's at once (reason `evicted`), another node's through the change feed (reason `revoked`,
/// within the follower's latency). Bound: two logins of one account on two nodes within the same
/// few milliseconds can both pass the count, so an account can briefly hold one extra session per
/// racing node; in evict mode the next login trims it.
struct ClusterSessions: Sendable {
    let store: any Store
    let membership: any ClusterMembership
    /// This node (`cluster.node_id`).
    let node: String
    let policy: SessionPolicy
    var maxPerAccount: Int { policy.maxPerAccount }
    var onLimit: SessionPolicy.LimitBehaviour { policy.onLimit }

    enum Outcome: Equatable {
        case admitted
        case refused
    }

    /// Called before a login creates a session. `endLocal` ends one of this node's sessions.
    func admit(accountID: String, nowMs: Int64, endLocal: (String) -> Bool) throws -> Outcome {
        // The common case is one indexed count; the records are read only at the limit.
        guard try store.liveSessionCount(accountID: accountID) >= maxPerAccount else { return .admitted }
        guard onLimit == .evictOldest else { return .refused }
        let live = try store.sessionRecords(accountID: accountID, includeEnded: false, limit: maxPerAccount + 256)
        guard live.count >= maxPerAccount else { return .admitted }
        let oldest = live.sorted { ($0.createdMs, $0.id) < ($1.createdMs, $1.id) }.prefix(live.count - maxPerAccount + 1)
        for record in oldest where !endLocal(record.id) {
            // `try?`: a session that ended meanwhile needs no revocation.
            try? store.requestSessionRevocation(id: record.id, nowMs: nowMs)
        }
        return .admitted
    }

    /// The account's live sessions held by other nodes that `target` (a session id, or `others`
    /// meaning all but `current`) names; each gets a revocation request through the change feed,
    /// which its node applies within the follower's latency. Returns the ids requested.
    func revokeRemote(accountID: String, target: String, current: String, nowMs: Int64, isLocal: (String) -> Bool) throws -> [String] {
        var requested: [String] = []
        for record in try store.sessionRecords(accountID: accountID, includeEnded: false, limit: maxPerAccount + 256)
        where record.id != current && (target == "others" || record.id == target) && !isLocal(record.id) {
            do {
                try store.requestSessionRevocation(id: record.id, nowMs: nowMs)
                requested.append(record.id)
            } catch StoreError.invalid {
                // It ended meanwhile.
            }
        }
        return requested
    }

    /// A session another node holds, taken over for a resume on this node (the client's reconnect
    /// landed here, or its node died): nil when `credentialID` with `scopes` may not resume it, it
    /// ended or expired, or another node took it first. The store records the move and the old
    /// holder lets go of it through the change feed (`session_moved`).
    func takeOver(sessionID: String, credentialID: String, scopes: Set<Scope>, nowMs: Int64) throws -> Handover? {
        guard let record = try store.sessionRecord(id: sessionID),
            let session = Self.rebuild(record, credentialID: credentialID, scopes: scopes, policy: policy, nowMs: nowMs)
        else { return nil }
        // A record of this node's own that the registry no longer holds is one this node ended
        // (its end may still be waiting to be written): never brought back.
        guard record.nodeID != node,
            try membership.moveSession(id: sessionID, fromNode: record.nodeID, toNode: node, nowMs: nowMs)
        else { return nil }
        return Handover(session: session, fromNode: record.nodeID, channels: record.subscriptions)
    }

    struct Handover {
        let session: Session
        let fromNode: String
        /// The channels the session was subscribed to on its previous node.
        let channels: [String]
    }

    /// The live session a stored record describes, if `credentialID` with `scopes` may resume it:
    /// the rules of a resume on the same node (same credential, same scopes, not ended, not
    /// expired). Deadlines carry over: the absolute one exactly, the idle one from the last
    /// activity the record has (journaled at most every 10 s, so never later than the truth). A
    /// TOTP step-up carries over until it would have lapsed; risk reasons do not (the risk engine
    /// reassesses within a second).
    static func rebuild(_ record: SessionRecord, credentialID: String, scopes: Set<Scope>, policy: SessionPolicy, nowMs: Int64) -> Session? {
        guard record.isLive, record.credentialID == credentialID, record.scopes == Scope.render(scopes) else { return nil }
        var session = Session(
            id: record.id, accountID: record.accountID, keyID: record.credentialID, scopes: scopes, authMethod: record.authMethod,
            clientIP: record.clientIP, createdMs: record.createdMs, idleTimeoutMs: policy.idleTimeoutMs,
            absoluteTimeoutMs: policy.absoluteTimeoutMs, lastActivityMs: record.lastActivityMs)
        session.absoluteStartMs = record.absoluteDeadlineMs - policy.absoluteTimeoutMs
        session.idleTimeoutMs = min(record.idleTimeoutMs, policy.idleTimeoutMs)
        session.risk = SessionRisk(score: record.riskScore, level: RiskLevel(rawValue: record.riskLevel) ?? .low)
        if let verified = record.mfaVerifiedMs {
            session.mfaVerifiedAtMs = verified
            session.stepUpUntilMs = verified + policy.stepUpTTLMs
        }
        guard !session.isExpired(atMs: nowMs) else { return nil }
        return session
    }
}
