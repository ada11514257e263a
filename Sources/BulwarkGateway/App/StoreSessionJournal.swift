import BulwarkCore
import BulwarkSessions
import BulwarkStore
import Logging
import Synchronization

/// Keeps session records in the store, so `bulwark sessions list` and the admin API can show live
/// and past sessions. A failed write is logged and never fails the login or request it came from.
///
/// An end that cannot be written (the store is down) is kept and written again by `retryEnds`:
/// a stored record that stayed live could otherwise be resumed later on another node of a cluster,
/// bringing a revoked or expired session back.
final class StoreSessionJournal: SessionJournal, Sendable {
    let store: any SessionRecordWriter
    let logger: Logger
    private let unwrittenEnds = Mutex<[PendingEnd]>([])
    /// Ends kept for a retry at most; beyond it the oldest are dropped (and logged).
    static let maxUnwrittenEnds = 100_000

    private struct PendingEnd {
        let sessionID: String
        let reason: String
        let atMs: Int64
    }

    init(store: any SessionRecordWriter, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    func sessionStarted(_ session: Session) { save(session) }

    func sessionUpdated(_ session: Session) { save(session) }

    func sessionEnded(_ session: Session, reason: SessionEndReason, atMs: Int64) {
        do {
            try store.endSession(id: session.id, reason: reason.rawValue, atMs: atMs)
        } catch {
            logger.error("session journal: cannot record end, will retry", metadata: ["session_hash": "\(SessionHash.of(session.id))", "error": "\(error)"])
            let dropped = unwrittenEnds.withLock { ends -> Int in
                ends.append(PendingEnd(sessionID: session.id, reason: reason.rawValue, atMs: atMs))
                let excess = max(0, ends.count - Self.maxUnwrittenEnds)
                ends.removeFirst(excess)
                return excess
            }
            if dropped > 0 { logger.critical("session journal: unwritten session ends dropped", metadata: ["count": "\(dropped)"]) }
        }
    }

    /// Writes the ends that failed earlier, oldest first, until one fails again; returns how many
    /// are still waiting. Called once a second by the session sweeper.
    @discardableResult
    func retryEnds() -> Int {
        let waiting = unwrittenEnds.withLock { $0 }
        guard !waiting.isEmpty else { return 0 }
        var written = 0
        for end in waiting {
            guard (try? store.endSession(id: end.sessionID, reason: end.reason, atMs: end.atMs)) != nil else { break }
            written += 1
        }
        if written > 0 { logger.notice("session journal: earlier session ends written", metadata: ["count": "\(written)"]) }
        return unwrittenEnds.withLock { ends in
            ends.removeFirst(min(written, ends.count))
            return ends.count
        }
    }

    /// The store recorded the move already (`ClusterMembership.moveSession`).
    func sessionAdopted(_ session: Session, fromNode: String) {}

    /// The record is the new holder's now: nothing to write.
    func sessionReleased(_ session: Session) {}

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
