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
    let maxPerAccount: Int
    let onLimit: SessionPolicy.LimitBehaviour

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
}
