import BulwarkCore
import BulwarkSessions
import BulwarkStore
import Testing

@testable import BulwarkGateway

/// The pure parts of a resume on another node (ClusterSessions.rebuild, PrivateEventLog numbering);
/// tests/integration/test_cluster.py drives the whole takeover between two real nodes.
@Suite struct SessionTakeoverTests {
    let policy = SessionPolicy(idleTimeoutMs: 600_000, absoluteTimeoutMs: 3_600_000, stepUpTTLMs: 60_000)

    func record(
        credential: String = "k_1", scopes: String = "read,trade", lastActivityMs: Int64 = 10_000, idleTimeoutMs: Int64 = 600_000,
        absoluteDeadlineMs: Int64 = 3_600_000, mfaVerifiedMs: Int64? = nil, endedMs: Int64? = nil
    ) -> SessionRecord {
        SessionRecord(
            id: "s_1", accountID: "a_1", credentialID: credential, authMethod: "signature", scopes: scopes, clientIP: "203.0.113.9",
            network: "203.0.113.0/24", createdMs: 0, lastActivityMs: lastActivityMs, idleTimeoutMs: idleTimeoutMs,
            absoluteDeadlineMs: absoluteDeadlineMs, riskScore: 0.4, riskLevel: "elevated", mfaVerifiedMs: mfaVerifiedMs, endedMs: endedMs,
            nodeID: "node-a", subscriptions: ["orders"])
    }

    func rebuild(_ record: SessionRecord, credential: String = "k_1", scopes: Set<Scope> = [.read, .trade], at now: Int64 = 20_000) -> Session? {
        ClusterSessions.rebuild(record, credentialID: credential, scopes: scopes, policy: policy, nowMs: now)
    }

    @Test func theSessionCarriesItsIdentityDeadlinesRiskAndStepUp() throws {
        let session = try #require(rebuild(record(idleTimeoutMs: 96_000, absoluteDeadlineMs: 576_000, mfaVerifiedMs: 15_000)))
        #expect(session.id == "s_1" && session.accountID == "a_1" && session.keyID == "k_1" && session.scopes == [.read, .trade])
        #expect(session.clientIP == "203.0.113.9" && session.createdMs == 0)
        // Deadlines as the old node had them (risk-shortened ones included).
        #expect(session.absoluteDeadlineMs == 576_000)
        #expect(session.idleTimeoutMs == 96_000 && session.lastActivityMs == 10_000)
        #expect(session.risk.level == .elevated && session.risk.score == 0.4)
        // The step-up counts until it would have lapsed on the old node.
        #expect(session.assurance(atMs: 20_000) == .aal2)
        #expect(session.assurance(atMs: 75_000) == .aal1)
    }

    @Test func onlyTheOwningCredentialWithTheSameScopesMayTakeItOver() {
        #expect(rebuild(record(), credential: "k_2") == nil)
        #expect(rebuild(record(), scopes: [.read]) == nil)
        #expect(rebuild(record(), scopes: [.read, .trade, .account]) == nil)
        #expect(rebuild(record(scopes: "read")) == nil)
        #expect(rebuild(record()) != nil)
    }

    @Test func anEndedOrExpiredSessionCannotBeTakenOver() {
        #expect(rebuild(record(endedMs: 15_000)) == nil)
        // Idle deadline from the recorded activity: 10 s + 600 s.
        #expect(rebuild(record(), at: 609_999) != nil)
        #expect(rebuild(record(), at: 610_000) == nil)
        // Absolute deadline.
        #expect(rebuild(record(lastActivityMs: 3_500_000), at: 3_600_000) == nil)
    }

    @Test func privateEventsContinueAboveWhatTheClientSawOnTheOldNode() {
        let log = PrivateEventLog(capacity: 8)
        log.sessionStarted(accountID: "a_1")
        for _ in 0..<3 { log.record(accountID: "a_1", topicKey: "orders", publish: { _ in [1] }) }
        #expect(log.lastSeq(accountID: "a_1") == 3)
        // A client that saw up to 57 elsewhere: the next event here is 58, never one it "has".
        #expect(log.continueNumbering(accountID: "a_1", after: 57) == 57)
        var numbered: UInt64?
        log.record(accountID: "a_1", topicKey: "orders", publish: { seq in
            numbered = seq
            return [2]
        })
        #expect(numbered == 58)
        // Numbers never go back for the account's other sessions here.
        #expect(log.continueNumbering(accountID: "a_1", after: 5) == 58)
        #expect(log.lastSeq(accountID: "a_1") == 58)
    }

    @Test func aSessionMoveSubjectRoundTrips() {
        let move = SessionMove(sessionID: "s_abc", toNode: "host one:/var/lib/bulwark")
        #expect(SessionMove(subject: move.subject) == move)
        #expect(SessionMove(subject: "s_abc") == nil)
    }
}
