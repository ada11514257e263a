import BulwarkCore
import BulwarkSessions
import BulwarkStore
import Logging

/// Keeps session records in the store, so `bulwark sessions list` and the admin API can show live
/// and past sessions. A failed write is logged and never fails the login or request it came from.
struct StoreSessionJournal: SessionJournal {
    let store: any Store
    let logger: Logger

    func sessionStarted(_ session: Session) { save(session) }

    func sessionUpdated(_ session: Session) { save(session) }

    func sessionEnded(_ session: Session, reason: SessionEndReason, atMs: Int64) {
        do {
            try store.endSession(id: session.id, reason: reason.rawValue, atMs: atMs)
        } catch {
            logger.error("session journal: cannot record end", metadata: ["session_hash": "\(SessionHash.of(session.id))", "error": "\(error)"])
        }
    }

    private func save(_ session: Session) {
        do {
            try store.saveSession(Self.record(session))
        } catch {
            logger.error("session journal: cannot save", metadata: ["session_hash": "\(SessionHash.of(session.id))", "error": "\(error)"])
        }
    }

    static func record(_ session: Session) -> SessionRecord {
        SessionRecord(
            id: session.id, accountID: session.accountID, credentialID: session.keyID, authMethod: session.authMethod,
            scopes: Scope.render(session.scopes), clientIP: session.clientIP, network: session.network, createdMs: session.createdMs,
            lastActivityMs: session.lastActivityMs, idleTimeoutMs: session.idleTimeoutMs, absoluteDeadlineMs: session.absoluteDeadlineMs,
            riskScore: session.risk.score, riskLevel: session.risk.level.rawValue, mfaVerifiedMs: session.mfaVerifiedAtMs)
    }
}
