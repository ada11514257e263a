import BulwarkCore
import Synchronization

/// Something bound to a session that must be told when the session ends (a live connection).
public protocol SessionListener: AnyObject, Sendable {
    func sessionEnded(_ session: Session, reason: SessionEndReason)
    /// The session will end at `session.expiresAtMs` unless renewed (`public/auth` in place).
    func sessionExpiring(_ session: Session, reason: Session.ExpiryReason)
    /// Another gateway node took the session over (its client resumed there): it lives on, but
    /// no longer here.
    func sessionMoved(_ session: Session)
}

/// Where session records are kept beyond memory (SQLite, later PostgreSQL), so operators can list
/// and audit them. Called outside the registry's lock; implementations must not call back into it.
public protocol SessionJournal: Sendable {
    func sessionStarted(_ session: Session)
    func sessionUpdated(_ session: Session)
    func sessionEnded(_ session: Session, reason: SessionEndReason, atMs: Int64)
    /// This node took over a live session from `fromNode` (a resume); the store already says so.
    func sessionAdopted(_ session: Session, fromNode: String)
    /// Another node took the session over: this node forgets it without ending it.
    func sessionReleased(_ session: Session)
}

/// The node's live sessions and the connections bound to them.
///
/// Revocation by key or account reaches every bound connection synchronously from the caller's
/// thread; listeners hop to their own event loop to write the notice and close.
public final class SessionRegistry: Sendable {
    private struct Entry {
        var session: Session
        var listeners: [ObjectIdentifier: any SessionListener]
        /// The deadline a `session.expiring` was already sent for (one warning per deadline).
        var warnedForDeadlineMs: Int64?
        /// Last activity written to the journal: activity is journaled at most every
        /// `activityJournalIntervalMs`, not on every request.
        var journaledActivityMs: Int64
    }

    public struct LimitReached: Error, Sendable, Equatable {}

    /// What a risk update changed, so the caller can tell the client.
    public struct RiskChange: Sendable {
        public let before: Session
        public let after: Session
        public var levelChanged: Bool { before.risk.level != after.risk.level }
        /// The deadline in force moved closer than it was.
        public var deadlineShortened: Bool { after.expiresAtMs < before.expiresAtMs }
    }

    private let entries = Mutex(SessionTable<Entry>(accountOf: { $0.session.accountID }))
    public let policy: SessionPolicy
    private let journal: (any SessionJournal)?
    /// Activity (not pings) is persisted at most this often per session.
    public static let activityJournalIntervalMs: Int64 = 10_000

    public init(policy: SessionPolicy = SessionPolicy(), journal: (any SessionJournal)? = nil) {
        self.policy = policy
        self.journal = journal
    }

    /// Creates a session, applying the per-account limit (refuse, or evict the oldest).
    public func create(
        accountID: String, keyID: String, scopes: Set<Scope>, authMethod: String, clientIP: String, nowMs: Int64,
        listener: any SessionListener
    ) throws(LimitReached) -> Session {
        let session = Session(
            id: Identifier.random(prefix: "s"), accountID: accountID, keyID: keyID, scopes: scopes,
            authMethod: authMethod, clientIP: clientIP, createdMs: nowMs, idleTimeoutMs: policy.idleTimeoutMs,
            absoluteTimeoutMs: policy.absoluteTimeoutMs)
        let evicted = entries.withLock { entries -> Result<[Entry], LimitReached> in
            let mine = entries.entries(ofAccount: accountID)
            var evicted: [Entry] = []
            if mine.count >= policy.maxPerAccount {
                guard policy.onLimit == .evictOldest else { return .failure(LimitReached()) }
                let oldest = mine.sorted { ($0.session.createdMs, $0.session.id) < ($1.session.createdMs, $1.session.id) }
                for entry in oldest.prefix(mine.count - policy.maxPerAccount + 1) {
                    entries.removeValue(forKey: entry.session.id)
                    evicted.append(entry)
                }
            }
            entries[session.id] = Entry(
                session: session, listeners: [ObjectIdentifier(listener): listener], journaledActivityMs: nowMs)
            return .success(evicted)
        }
        switch evicted {
        case .failure(let error): throw error
        case .success(let entries):
            journal?.sessionStarted(session)
            for entry in entries { finish(entry, reason: .evicted, atMs: nowMs, notify: true) }
        }
        return session
    }

    /// Re-authentication on the same connection: both timers start again, the id stays.
    public func renew(id: String, nowMs: Int64) -> Session? {
        let renewed = entries.withLock { entries -> Session? in
            guard var entry = entries[id], !entry.session.isExpired(atMs: nowMs) else { return nil }
            entry.session.absoluteStartMs = nowMs
            entry.session.lastActivityMs = nowMs
            entry.warnedForDeadlineMs = nil
            entry.journaledActivityMs = nowMs
            entries[id] = entry
            return entry.session
        }
        if let renewed { journal?.sessionUpdated(renewed) }
        return renewed
    }

    /// Binds another connection to a live session (resume after a reconnect); nil if it is gone.
    public func attach(sessionID: String, listener: any SessionListener, nowMs: Int64) -> Session? {
        entries.withLock { entries -> Session? in
            guard var entry = entries[sessionID], !entry.session.isExpired(atMs: nowMs) else { return nil }
            entry.listeners[ObjectIdentifier(listener)] = listener
            entry.session.lastActivityMs = nowMs
            entries[sessionID] = entry
            return entry.session
        }
    }

    /// Takes over a live session another node held (its client resumed here), bound to `listener`.
    /// No per-node limit applies: the session already counts in the cluster-wide one.
    public func adopt(_ session: Session, fromNode: String, listener: any SessionListener, nowMs: Int64) -> Session {
        var adopted = session
        adopted.lastActivityMs = max(adopted.lastActivityMs, nowMs)
        let isNew = entries.withLock { entries -> Bool in
            if var existing = entries[adopted.id] {
                // Already here (defensive: the store's compare-and-set lets one takeover win): bind
                // the listener to the session this node has.
                existing.listeners[ObjectIdentifier(listener)] = listener
                entries[adopted.id] = existing
                adopted = existing.session
                return false
            }
            entries[adopted.id] = Entry(session: adopted, listeners: [ObjectIdentifier(listener): listener], journaledActivityMs: nowMs)
            return true
        }
        if isNew { journal?.sessionAdopted(adopted, fromNode: fromNode) }
        return adopted
    }

    /// Another node took the session over: forget it here without ending it, and tell the
    /// connections still bound to it here (they close; their client resumes where the session is).
    @discardableResult
    public func release(id: String) -> Bool {
        guard let entry = entries.withLock({ $0.removeValue(forKey: id) }) else { return false }
        journal?.sessionReleased(entry.session)
        for listener in entry.listeners.values { listener.sessionMoved(entry.session) }
        return true
    }

    /// How many live connections the session has.
    public func boundConnections(sessionID: String) -> Int { entries.withLock { $0[sessionID]?.listeners.count ?? 0 } }

    /// Sends `session.expiring` to sessions within the warning lead of their deadline, once per
    /// deadline; returns how many were warned.
    @discardableResult
    public func warnExpiring(nowMs: Int64) -> Int {
        let due = entries.withLock { entries -> [Entry] in
            var due: [Entry] = []
            for (id, var entry) in entries {
                let deadline = entry.session.expiresAtMs
                guard deadline - nowMs <= policy.warningLeadMs, deadline > nowMs, entry.warnedForDeadlineMs != deadline else { continue }
                entry.warnedForDeadlineMs = deadline
                entries[id] = entry
                due.append(entry)
            }
            return due
        }
        for entry in due {
            let reason: Session.ExpiryReason = entry.session.isShortenedByRisk ? .risk : entry.session.expiryReason
            for listener in entry.listeners.values { listener.sessionExpiring(entry.session, reason: reason) }
        }
        return due.count
    }

    public func session(id: String) -> Session? { entries.withLock { $0[id]?.session } }

    /// Records activity (a request, not a ping) and returns the session if it is still alive.
    public func touch(id: String, nowMs: Int64) -> Session? {
        let (session, journalIt) = entries.withLock { entries -> (Session?, Bool) in
            guard var entry = entries[id], !entry.session.isExpired(atMs: nowMs) else { return (nil, false) }
            entry.session.lastActivityMs = nowMs
            let due = nowMs - entry.journaledActivityMs >= Self.activityJournalIntervalMs
            if due { entry.journaledActivityMs = nowMs }
            entries[id] = entry
            return (entry.session, due)
        }
        if journalIt, let session { journal?.sessionUpdated(session) }
        return session
    }

    /// Stores a new risk assessment and the timeouts it implies; nil if the session is gone.
    public func applyRisk(id: String, risk: SessionRisk, idleTimeoutMs: Int64, absoluteTimeoutMs: Int64) -> RiskChange? {
        let change = entries.withLock { entries -> RiskChange? in
            guard var entry = entries[id] else { return nil }
            let before = entry.session
            entry.session.risk = risk
            // Risk only ever shortens the policy's timeouts, never extends them.
            entry.session.idleTimeoutMs = min(idleTimeoutMs, before.baseIdleTimeoutMs)
            entry.session.absoluteTimeoutMs = min(absoluteTimeoutMs, before.baseAbsoluteTimeoutMs)
            entries[id] = entry
            return RiskChange(before: before, after: entry.session)
        }
        if let change, change.levelChanged || change.after.idleTimeoutMs != change.before.idleTimeoutMs {
            journal?.sessionUpdated(change.after)
        }
        return change
    }

    /// A successful TOTP step-up: the session is `aal2` for the policy's step-up window.
    public func recordStepUp(id: String, nowMs: Int64) -> Session? {
        let session = entries.withLock { entries -> Session? in
            guard var entry = entries[id] else { return nil }
            entry.session.mfaVerifiedAtMs = nowMs
            entry.session.stepUpUntilMs = nowMs + policy.stepUpTTLMs
            entries[id] = entry
            return entry.session
        }
        if let session { journal?.sessionUpdated(session) }
        return session
    }

    /// The account's live sessions (an index lookup: this runs on every request, for the risk engine).
    public func sessions(accountID: String) -> [Session] {
        entries.withLock { $0.entries(ofAccount: accountID).map(\.session) }
    }

    public var count: Int { entries.withLock { $0.count } }

    /// Every live session, oldest first (operators' view).
    public var all: [Session] {
        entries.withLock { $0.values.map(\.session) }.sorted { $0.createdMs == $1.createdMs ? $0.id < $1.id : $0.createdMs < $1.createdMs }
    }

    /// Ends one session; listeners are told outside the lock unless `notify` is false (the caller
    /// is the session's own connection, ending it in answer to a request).
    @discardableResult
    public func end(id: String, reason: SessionEndReason, nowMs: Int64, notify: Bool = true) -> Bool {
        guard let entry = entries.withLock({ $0.removeValue(forKey: id) }) else { return false }
        finish(entry, reason: reason, atMs: nowMs, notify: notify)
        return true
    }

    /// Unbinds a connection that went away; the session itself lives on until it expires.
    /// Returns how many connections remain bound.
    @discardableResult
    public func detach(sessionID: String, listener: any SessionListener) -> Int {
        entries.withLock { entries -> Int in
            guard var entry = entries[sessionID] else { return 0 }
            entry.listeners.removeValue(forKey: ObjectIdentifier(listener))
            entries[sessionID] = entry
            return entry.listeners.count
        }
    }

    /// Ends every session of a key (key revoked) and returns how many.
    @discardableResult
    public func endAll(keyID: String, reason: SessionEndReason, nowMs: Int64) -> Int {
        endAll(reason: reason, nowMs: nowMs) { $0.keyID == keyID }
    }

    @discardableResult
    public func endAll(accountID: String, reason: SessionEndReason, nowMs: Int64) -> Int {
        endAll(reason: reason, nowMs: nowMs) { $0.accountID == accountID }
    }

    /// Ends sessions whose deadline has passed; returns how many.
    @discardableResult
    public func expire(nowMs: Int64) -> Int {
        endAll(reason: .expired, nowMs: nowMs) { $0.isExpired(atMs: nowMs) }
    }

    private func endAll(reason: SessionEndReason, nowMs: Int64, where matches: (Session) -> Bool) -> Int {
        let removed = entries.withLock { entries -> [Entry] in
            let ids = entries.filter { matches($0.value.session) }.map(\.key)
            return ids.compactMap { entries.removeValue(forKey: $0) }
        }
        for entry in removed { finish(entry, reason: reason, atMs: nowMs, notify: true) }
        return removed.count
    }

    private func finish(_ entry: Entry, reason: SessionEndReason, atMs: Int64, notify: Bool) {
        journal?.sessionEnded(entry.session, reason: reason, atMs: atMs)
        guard notify else { return }
        for listener in entry.listeners.values { listener.sessionEnded(entry.session, reason: reason) }
    }
}

/// The registry's table: entries by session id, with an index by account so per-account lookups
/// (the risk engine's concurrent networks, the per-account limit) cost the account's sessions, not
/// the node's.
struct SessionTable<Entry: Sendable>: Sequence, Sendable {
    private var byID: [String: Entry] = [:]
    private var byAccount: [String: Set<String>] = [:]
    private let accountOf: @Sendable (Entry) -> String

    init(accountOf: @escaping @Sendable (Entry) -> String) { self.accountOf = accountOf }

    subscript(id: String) -> Entry? {
        get { byID[id] }
        set {
            if let old = byID[id] { unindex(id, account: accountOf(old)) }
            byID[id] = newValue
            if let newValue { byAccount[accountOf(newValue), default: []].insert(id) }
        }
    }

    @discardableResult
    mutating func removeValue(forKey id: String) -> Entry? {
        guard let old = byID.removeValue(forKey: id) else { return nil }
        unindex(id, account: accountOf(old))
        return old
    }

    func entries(ofAccount account: String) -> [Entry] { (byAccount[account] ?? []).compactMap { byID[$0] } }

    var values: Dictionary<String, Entry>.Values { byID.values }
    var count: Int { byID.count }

    func filter(_ isIncluded: ((key: String, value: Entry)) -> Bool) -> [(key: String, value: Entry)] { byID.filter(isIncluded).map { ($0.key, $0.value) } }

    func makeIterator() -> Dictionary<String, Entry>.Iterator { byID.makeIterator() }

    private mutating func unindex(_ id: String, account: String) {
        byAccount[account]?.remove(id)
        if byAccount[account]?.isEmpty == true { byAccount.removeValue(forKey: account) }
    }
}
