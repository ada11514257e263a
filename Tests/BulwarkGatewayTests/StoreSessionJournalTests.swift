import BulwarkCore
import BulwarkSessions
import BulwarkStore
import Logging
import Synchronization
import Testing

@testable import BulwarkGateway

/// A session's end that the store could not take is written once it can: a record left live could
/// otherwise be resumed on another node of a cluster after the session was revoked here.
@Suite struct StoreSessionJournalTests {
    final class FlakyWriter: SessionRecordWriter {
        let down = Atomic<Bool>(true)
        let ends = Mutex<[String]>([])
        func saveSession(_ record: SessionRecord) throws {}
        func endSession(id: String, reason: String, atMs: Int64) throws {
            guard !down.load(ordering: .relaxed) else { throw StoreError.unavailable("down") }
            ends.withLock { $0.append("\(id) \(reason) \(atMs)") }
        }
    }

    func session(_ id: String) -> Session {
        Session(
            id: id, accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "203.0.113.9", createdMs: 0,
            idleTimeoutMs: 1000, absoluteTimeoutMs: 5000)
    }

    @Test func endsThatFailedAreWrittenInOrderOnceTheStoreIsBack() {
        let writer = FlakyWriter()
        let journal = StoreSessionJournal(store: writer, logger: Logger(label: "test"))
        journal.sessionEnded(session("s_1"), reason: .revoked, atMs: 10)
        journal.sessionEnded(session("s_2"), reason: .risk, atMs: 11)
        // Still down: nothing written, both kept.
        #expect(journal.retryEnds() == 2)
        #expect(writer.ends.withLock { $0 }.isEmpty)
        writer.down.store(false, ordering: .relaxed)
        #expect(journal.retryEnds() == 0)
        #expect(writer.ends.withLock { $0 } == ["s_1 revoked 10", "s_2 risk 11"])
        // Written once: a further retry writes nothing again.
        #expect(journal.retryEnds() == 0)
        #expect(writer.ends.withLock { $0 }.count == 2)
    }
}
