import BulwarkCore
import BulwarkSessions
import Synchronization

/// The subscriptions of a session whose connection dropped, kept so a resume restores them.
final class SavedSubscriptions: Sendable {
    private let bySession = Mutex<[String: [SubscriptionTopic]]>([:])

    func save(_ topics: [SubscriptionTopic], sessionID: String) {
        bySession.withLock { $0[sessionID] = topics }
    }

    /// Hands the saved topics to a resuming connection (once).
    func take(sessionID: String) -> [SubscriptionTopic] {
        bySession.withLock { $0.removeValue(forKey: sessionID) ?? [] }
    }

    func forget(sessionID: String) {
        _ = bySession.withLock { $0.removeValue(forKey: sessionID) }
    }
}

/// Everything that must follow a session's life besides the registry: the stored record, the
/// account's private event log (kept while the account has a session, for resume), and the saved
/// subscriptions (dropped when the session ends).
struct SessionLifecycleJournal: SessionJournal {
    let store: StoreSessionJournal
    let privateLog: PrivateEventLog
    let savedSubscriptions: SavedSubscriptions
    let audit: AuditTrail

    func sessionStarted(_ session: Session) {
        privateLog.sessionStarted(accountID: session.accountID)
        store.sessionStarted(session)
        audit.record(
            "session.started", actor: session.accountID, credentialID: session.keyID, sessionID: session.id, clientIP: session.clientIP,
            outcome: .success, details: ["auth_method": session.authMethod, "scopes": Scope.render(session.scopes)])
    }

    func sessionUpdated(_ session: Session) { store.sessionUpdated(session) }

    func sessionEnded(_ session: Session, reason: SessionEndReason, atMs: Int64) {
        store.sessionEnded(session, reason: reason, atMs: atMs)
        audit.record(
            "session.ended", actor: session.accountID, credentialID: session.keyID, sessionID: session.id, clientIP: session.clientIP,
            outcome: .info, details: ["reason": reason.rawValue])
        savedSubscriptions.forget(sessionID: session.id)
        privateLog.sessionEnded(accountID: session.accountID)
    }

    func sessionAdopted(_ session: Session, fromNode: String) {
        privateLog.sessionStarted(accountID: session.accountID)
        audit.record(
            "session.moved", actor: session.accountID, credentialID: session.keyID, sessionID: session.id, clientIP: session.clientIP,
            outcome: .success, details: ["from_node": fromNode])
    }

    /// Another node holds the session now: it keeps the record (and audits the move).
    func sessionReleased(_ session: Session) {
        savedSubscriptions.forget(sessionID: session.id)
        privateLog.sessionEnded(accountID: session.accountID)
    }
}
