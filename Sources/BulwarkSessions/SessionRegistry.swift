import BulwarkCore
import Synchronization

/// Something bound to a session that must be told when the session ends (a live connection).
public protocol SessionListener: AnyObject, Sendable {
    func sessionEnded(_ session: Session, reason: SessionEndReason)
    /// The session will end at `session.expiresAtMs` unless renewed (`public/auth` in place).
    func sessionExpiring(_ session: Session)
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
    }

    public struct LimitReached: Error, Sendable, Equatable {}

    private let entries = Mutex<[String: Entry]>([:])
    public let policy: SessionPolicy

    public init(policy: SessionPolicy = SessionPolicy()) { self.policy = policy }

    /// Creates a session, applying the per-account limit (refuse, or evict the oldest).
    public func create(
        accountID: String, keyID: String, scopes: Set<Scope>, authMethod: String, clientIP: String, nowMs: Int64,
        listener: any SessionListener
    ) throws(LimitReached) -> Session {
        let session = Session(
            id: Identifier.random(prefix: "s"), accountID: accountID, keyID: keyID, scopes: scopes,
            authMethod: authMethod, clientIP: clientIP, createdMs: nowMs, idleTimeoutMs: policy.idleTimeoutMs,
            absoluteDeadlineMs: nowMs + policy.absoluteTimeoutMs)
        let evicted = entries.withLock { entries -> Result<[Entry], LimitReached> in
            let mine = entries.values.filter { $0.session.accountID == accountID }
            var evicted: [Entry] = []
            if mine.count >= policy.maxPerAccount {
                guard policy.onLimit == .evictOldest else { return .failure(LimitReached()) }
                let oldest = mine.sorted { ($0.session.createdMs, $0.session.id) < ($1.session.createdMs, $1.session.id) }
                for entry in oldest.prefix(mine.count - policy.maxPerAccount + 1) {
                    entries.removeValue(forKey: entry.session.id)
                    evicted.append(entry)
                }
            }
            entries[session.id] = Entry(session: session, listeners: [ObjectIdentifier(listener): listener])
            return .success(evicted)
        }
        switch evicted {
        case .failure(let error): throw error
        case .success(let entries):
            for entry in entries {
                for listener in entry.listeners.values { listener.sessionEnded(entry.session, reason: .evicted) }
            }
        }
        return session
    }

    /// Re-authentication on the same connection: both timers start again, the id stays.
    public func renew(id: String, nowMs: Int64) -> Session? {
        entries.withLock { entries -> Session? in
            guard var entry = entries[id], !entry.session.isExpired(atMs: nowMs) else { return nil }
            entry.session = Session(
                id: entry.session.id, accountID: entry.session.accountID, keyID: entry.session.keyID, scopes: entry.session.scopes,
                authMethod: entry.session.authMethod, clientIP: entry.session.clientIP, createdMs: entry.session.createdMs,
                idleTimeoutMs: policy.idleTimeoutMs, absoluteDeadlineMs: nowMs + policy.absoluteTimeoutMs, lastActivityMs: nowMs)
            entry.warnedForDeadlineMs = nil
            entries[id] = entry
            return entry.session
        }
    }

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
            for listener in entry.listeners.values { listener.sessionExpiring(entry.session) }
        }
        return due.count
    }

    public func session(id: String) -> Session? { entries.withLock { $0[id]?.session } }

    /// Records activity (a request, not a ping) and returns the session if it is still alive.
    public func touch(id: String, nowMs: Int64) -> Session? {
        entries.withLock { entries -> Session? in
            guard var entry = entries[id], !entry.session.isExpired(atMs: nowMs) else { return nil }
            entry.session.lastActivityMs = nowMs
            entries[id] = entry
            return entry.session
        }
    }

    public func sessions(accountID: String) -> [Session] {
        entries.withLock { $0.values.map(\.session).filter { $0.accountID == accountID } }
    }

    public var count: Int { entries.withLock { $0.count } }

    /// Every live session, oldest first (operators' view).
    public var all: [Session] {
        entries.withLock { $0.values.map(\.session) }.sorted { $0.createdMs == $1.createdMs ? $0.id < $1.id : $0.createdMs < $1.createdMs }
    }

    /// Ends one session; listeners are told outside the lock unless `notify` is false (the caller
    /// is the session's own connection, ending it in answer to a request).
    @discardableResult
    public func end(id: String, reason: SessionEndReason, notify: Bool = true) -> Bool {
        guard let entry = entries.withLock({ $0.removeValue(forKey: id) }) else { return false }
        if notify {
            for listener in entry.listeners.values { listener.sessionEnded(entry.session, reason: reason) }
        }
        return true
    }

    /// Unbinds a connection that went away; the session itself lives on until it expires.
    public func detach(sessionID: String, listener: any SessionListener) {
        entries.withLock { _ = $0[sessionID]?.listeners.removeValue(forKey: ObjectIdentifier(listener)) }
    }

    /// Ends every session of a key (key revoked) and returns how many.
    @discardableResult
    public func endAll(keyID: String, reason: SessionEndReason) -> Int {
        endAll(reason: reason) { $0.keyID == keyID }
    }

    @discardableResult
    public func endAll(accountID: String, reason: SessionEndReason) -> Int {
        endAll(reason: reason) { $0.accountID == accountID }
    }

    /// Ends sessions whose deadline has passed; returns how many.
    @discardableResult
    public func expire(nowMs: Int64) -> Int {
        endAll(reason: .expired) { $0.isExpired(atMs: nowMs) }
    }

    private func endAll(reason: SessionEndReason, where matches: (Session) -> Bool) -> Int {
        let removed = entries.withLock { entries -> [Entry] in
            let ids = entries.filter { matches($0.value.session) }.map(\.key)
            return ids.compactMap { entries.removeValue(forKey: $0) }
        }
        for entry in removed {
            for listener in entry.listeners.values { listener.sessionEnded(entry.session, reason: reason) }
        }
        return removed.count
    }
}
