import BulwarkCore
import BulwarkSessions
import Synchronization
import Testing

final class RecordingListener: SessionListener {
    let ended = Mutex<[(String, SessionEndReason)]>([])
    let warned = Mutex<[(String, Int64, Session.ExpiryReason)]>([])
    func sessionEnded(_ session: Session, reason: SessionEndReason) { ended.withLock { $0.append((session.id, reason)) } }
    func sessionExpiring(_ session: Session, reason: Session.ExpiryReason) {
        warned.withLock { $0.append((session.id, session.expiresAtMs, reason)) }
    }
    let moved = Mutex<[String]>([])
    func sessionMoved(_ session: Session) { moved.withLock { $0.append(session.id) } }
    var reasons: [SessionEndReason] { ended.withLock { $0.map(\.1) } }
    var warnings: [Int64] { warned.withLock { $0.map(\.1) } }
    var warningReasons: [Session.ExpiryReason] { warned.withLock { $0.map(\.2) } }
}

@Suite struct SessionRegistryTests {
    let policy = SessionPolicy(idleTimeoutMs: 1000, absoluteTimeoutMs: 5000)

    @Test func policyIsCappedAtNISTAAL2Limits() {
        let wide = SessionPolicy(idleTimeoutMs: 10 * 3_600_000, absoluteTimeoutMs: 100 * 3_600_000)
        #expect(wide.idleTimeoutMs == 3_600_000)
        #expect(wide.absoluteTimeoutMs == 24 * 3_600_000)
    }

    @Test func sessionIDsHave128RandomBits() throws {
        let registry = SessionRegistry(policy: policy)
        let listener = RecordingListener()
        let ids = try (0..<100).map { _ in
            try registry.create(accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "127.0.0.1", nowMs: 0, listener: listener).id
        }
        #expect(Set(ids).count == 100)
        #expect(ids.allSatisfy { $0.hasPrefix("s_") && Base64URL.decode(String($0.dropFirst(2)))?.count == 16 })
    }

    @Test func idleAndAbsoluteExpiry() throws {
        let registry = SessionRegistry(policy: policy)
        let listener = RecordingListener()
        let session = try registry.create(accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 0, listener: listener)
        #expect(session.expiresAtMs == 1000)
        // Activity pushes the idle deadline, never past the absolute one.
        for t in stride(from: Int64(900), through: 4500, by: 900) { #expect(registry.touch(id: session.id, nowMs: t) != nil) }
        #expect(registry.session(id: session.id)?.expiresAtMs == 5000)
        #expect(registry.expire(nowMs: 4999) == 0)
        #expect(registry.expire(nowMs: 5000) == 1)
        #expect(listener.reasons == [.expired])
        #expect(registry.touch(id: session.id, nowMs: 5001) == nil)
    }

    @Test func idleSessionCannotBeTouchedBackToLife() throws {
        let registry = SessionRegistry(policy: policy)
        let session = try registry.create(accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 0, listener: RecordingListener())
        #expect(registry.touch(id: session.id, nowMs: 1000) == nil)
    }

    @Test func revocationByKeyAndAccountReachesListeners() throws {
        let registry = SessionRegistry(policy: policy)
        let a = RecordingListener()
        let b = RecordingListener()
        let c = RecordingListener()
        _ = try registry.create(accountID: "a1", keyID: "k1", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 0, listener: a)
        _ = try registry.create(accountID: "a1", keyID: "k2", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 0, listener: b)
        _ = try registry.create(accountID: "a2", keyID: "k3", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 0, listener: c)
        #expect(registry.endAll(keyID: "k1", reason: .keyRevoked, nowMs: 0) == 1)
        #expect(a.reasons == [.keyRevoked] && b.reasons.isEmpty)
        #expect(registry.endAll(accountID: "a1", reason: .accountDisabled, nowMs: 0) == 1)
        #expect(b.reasons == [.accountDisabled] && c.reasons.isEmpty)
        #expect(registry.count == 1)
    }

    @Test func closeCodesFollowTheProtocol() {
        #expect(SessionEndReason.expired.closeCode == .sessionExpired)
        #expect(SessionEndReason.keyRevoked.closeCode == .sessionRevoked)
        #expect(SessionEndReason.revoked.closeCode.rawValue == 4002)
    }
}

@Suite struct SessionLifetimeTests {
    func make(_ policy: SessionPolicy) -> SessionRegistry { SessionRegistry(policy: policy) }

    @Test func warningLeadIsNeverUnderTenSeconds() {
        #expect(SessionPolicy(warningLeadMs: 1_000).warningLeadMs == 10_000)
    }

    @Test func expiringIsSentOncePerDeadlineWithItsReason() throws {
        let registry = make(SessionPolicy(idleTimeoutMs: 60_000, absoluteTimeoutMs: 3_600_000, warningLeadMs: 10_000))
        let listener = RecordingListener()
        let session = try registry.create(accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 0, listener: listener)
        #expect(session.expiryReason == .idle)
        #expect(registry.warnExpiring(nowMs: 49_999) == 0)
        #expect(registry.warnExpiring(nowMs: 50_000) == 1)
        #expect(registry.warnExpiring(nowMs: 55_000) == 0)
        #expect(listener.warnings == [60_000])
        // Activity moves the deadline; the next approach warns again.
        _ = registry.touch(id: session.id, nowMs: 55_000)
        #expect(registry.warnExpiring(nowMs: 105_000) == 1)
        #expect(listener.warnings == [60_000, 115_000])
    }

    @Test func renewalKeepsTheIDAndRestartsBothTimers() throws {
        let registry = make(SessionPolicy(idleTimeoutMs: 60_000, absoluteTimeoutMs: 120_000))
        let session = try registry.create(accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 0, listener: RecordingListener())
        for t in stride(from: Int64(50_000), through: 100_000, by: 50_000) { _ = registry.touch(id: session.id, nowMs: t) }
        #expect(registry.session(id: session.id)?.expiresAtMs == 120_000)
        #expect(registry.session(id: session.id)?.expiryReason == .absolute)
        let renewed = try #require(registry.renew(id: session.id, nowMs: 110_000))
        #expect(renewed.id == session.id && renewed.absoluteDeadlineMs == 230_000 && renewed.expiresAtMs == 170_000)
        #expect(registry.renew(id: session.id, nowMs: 500_000) == nil)
    }

    @Test func perAccountLimitEvictsTheOldestOrRefuses() throws {
        let evicting = make(SessionPolicy(maxPerAccount: 2, onLimit: .evictOldest))
        let first = RecordingListener()
        let oldest = try evicting.create(accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 1, listener: first)
        _ = try evicting.create(accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 2, listener: RecordingListener())
        _ = try evicting.create(accountID: "b", keyID: "k2", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 3, listener: RecordingListener())
        _ = try evicting.create(accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 4, listener: RecordingListener())
        #expect(first.reasons == [.evicted] && evicting.session(id: oldest.id) == nil)
        #expect(evicting.sessions(accountID: "a").count == 2 && evicting.sessions(accountID: "b").count == 1)

        let refusing = make(SessionPolicy(maxPerAccount: 1, onLimit: .refuse))
        _ = try refusing.create(accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 1, listener: RecordingListener())
        #expect(throws: SessionRegistry.LimitReached.self) {
            try refusing.create(accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 2, listener: RecordingListener())
        }
        #expect(SessionEndReason.evicted.closeCode.rawValue == 4002)
    }
}

/// Records what the registry journals, as the SQLite journal would store it.
final class RecordingJournal: SessionJournal {
    let events = Mutex<[String]>([])
    func sessionStarted(_ session: Session) { events.withLock { $0.append("start \(session.id)") } }
    func sessionUpdated(_ session: Session) { events.withLock { $0.append("update \(session.id)") } }
    func sessionEnded(_ session: Session, reason: SessionEndReason, atMs: Int64) {
        events.withLock { $0.append("end \(session.id) \(reason.rawValue) \(atMs)") }
    }
    func sessionAdopted(_ session: Session, fromNode: String) { events.withLock { $0.append("adopt \(session.id) from \(fromNode)") } }
    func sessionReleased(_ session: Session) { events.withLock { $0.append("release \(session.id)") } }
    var all: [String] { events.withLock { $0 } }
}

@Suite struct SessionHandoverTests {
    let policy = SessionPolicy(idleTimeoutMs: 1000, absoluteTimeoutMs: 5000)

    func elsewhere(_ id: String = "s_x", lastActivityMs: Int64 = 100) -> Session {
        Session(
            id: id, accountID: "a", keyID: "k", scopes: [.trade], authMethod: "signature", clientIP: "203.0.113.9", createdMs: 0,
            idleTimeoutMs: 1000, absoluteTimeoutMs: 5000, lastActivityMs: lastActivityMs)
    }

    @Test func anAdoptedSessionIsLiveHereWithoutEndingOrStartingItsRecord() {
        let journal = RecordingJournal()
        let registry = SessionRegistry(policy: policy, journal: journal)
        let listener = RecordingListener()
        let adopted = registry.adopt(elsewhere(), fromNode: "node-a", listener: listener, nowMs: 400)
        #expect(adopted.lastActivityMs == 400)
        #expect(registry.session(id: "s_x") == adopted)
        #expect(registry.boundConnections(sessionID: "s_x") == 1)
        #expect(registry.sessions(accountID: "a").map(\.id) == ["s_x"])
        // A second resume racing on this node binds to the same session; journaled once.
        let second = RecordingListener()
        #expect(registry.adopt(elsewhere(lastActivityMs: 300), fromNode: "node-a", listener: second, nowMs: 450).lastActivityMs == 400)
        #expect(registry.boundConnections(sessionID: "s_x") == 2)
        #expect(journal.all == ["adopt s_x from node-a"])
        // It expires by its own deadlines, like any other session here.
        #expect(registry.expire(nowMs: 1399) == 0)
        #expect(registry.expire(nowMs: 1400) == 1)
        #expect(listener.reasons == [.expired])
    }

    @Test func aReleasedSessionLeavesWithoutEndingAndItsConnectionsAreTold() throws {
        let journal = RecordingJournal()
        let registry = SessionRegistry(policy: policy, journal: journal)
        let listener = RecordingListener()
        let session = try registry.create(accountID: "a", keyID: "k", scopes: [.trade], authMethod: "signature", clientIP: "ip", nowMs: 0, listener: listener)
        #expect(registry.release(id: session.id))
        #expect(registry.session(id: session.id) == nil)
        #expect(listener.moved.withLock { $0 } == [session.id])
        #expect(listener.reasons.isEmpty)
        #expect(journal.all == ["start \(session.id)", "release \(session.id)"])
        // Gone: a revocation or expiry here finds nothing to end.
        #expect(!registry.release(id: session.id))
        #expect(!registry.end(id: session.id, reason: .revoked, nowMs: 1))
        #expect(registry.expire(nowMs: 10_000) == 0)
        #expect(journal.all.count == 2)
    }
}

@Suite struct SessionRiskAndAssuranceTests {
    let policy = SessionPolicy(idleTimeoutMs: 600_000, absoluteTimeoutMs: 3_600_000, warningLeadMs: 10_000, stepUpTTLMs: 60_000)

    func start(_ registry: SessionRegistry, _ listener: RecordingListener = RecordingListener(), at now: Int64 = 0) throws -> Session {
        try registry.create(accountID: "a", keyID: "k", scopes: [.trade], authMethod: "signature", clientIP: "203.0.113.9", nowMs: now, listener: listener)
    }

    @Test func sessionRecordsItsNetwork() throws {
        let session = try start(SessionRegistry(policy: policy))
        #expect(session.network == "203.0.113.0/24")
        #expect(session.assurance(atMs: 0) == .aal1)
    }

    @Test func riskShortensTimeoutsButNeverExtendsThem() throws {
        let registry = SessionRegistry(policy: policy)
        let session = try start(registry)
        let change = try #require(
            registry.applyRisk(
                id: session.id, risk: SessionRisk(score: 0.6, level: .high, reasons: ["new_network"]), idleTimeoutMs: 96_000,
                absoluteTimeoutMs: 576_000))
        #expect(change.levelChanged && change.deadlineShortened)
        #expect(change.after.idleTimeoutMs == 96_000 && change.after.absoluteDeadlineMs == 576_000)
        #expect(change.after.isShortenedByRisk)
        // A verdict that would lengthen them is capped at the policy's base timeouts.
        let relaxed = try #require(
            registry.applyRisk(id: session.id, risk: SessionRisk(), idleTimeoutMs: 9_999_999, absoluteTimeoutMs: 99_999_999))
        #expect(relaxed.after.idleTimeoutMs == 600_000 && relaxed.after.absoluteTimeoutMs == 3_600_000)
        #expect(!relaxed.after.isShortenedByRisk)
    }

    @Test func shortenedDeadlineWarnsWithReasonRisk() throws {
        let registry = SessionRegistry(policy: policy)
        let listener = RecordingListener()
        let session = try start(registry, listener)
        _ = registry.applyRisk(id: session.id, risk: SessionRisk(score: 0.9, level: .critical), idleTimeoutMs: 60_000, absoluteTimeoutMs: 600_000)
        #expect(registry.warnExpiring(nowMs: 50_000) == 1)
        #expect(listener.warningReasons == [.risk] && listener.warnings == [60_000])
        #expect(registry.expire(nowMs: 60_000) == 1 && listener.reasons == [.expired])
    }

    @Test func stepUpRaisesAssuranceForTheWindowOnly() throws {
        let registry = SessionRegistry(policy: policy)
        let session = try start(registry)
        let raised = try #require(registry.recordStepUp(id: session.id, nowMs: 1_000))
        #expect(raised.assurance(atMs: 1_000) == .aal2)
        #expect(raised.assurance(atMs: 60_999) == .aal2)
        #expect(raised.assurance(atMs: 61_000) == .aal1)
        #expect(raised.mfaVerifiedAtMs == 1_000)
    }

    @Test func resumeAttachesAnotherConnectionToALiveSessionOnly() throws {
        let registry = SessionRegistry(policy: policy)
        let first = RecordingListener()
        let session = try start(registry, first)
        #expect(registry.detach(sessionID: session.id, listener: first) == 0)
        let second = RecordingListener()
        #expect(registry.attach(sessionID: session.id, listener: second, nowMs: 5_000) != nil)
        #expect(registry.boundConnections(sessionID: session.id) == 1)
        registry.end(id: session.id, reason: .revoked, nowMs: 6_000)
        #expect(second.reasons == [.revoked] && first.reasons.isEmpty)
        #expect(registry.attach(sessionID: session.id, listener: RecordingListener(), nowMs: 7_000) == nil)
        // An expired session cannot be resumed either.
        let other = try start(registry)
        #expect(registry.attach(sessionID: other.id, listener: RecordingListener(), nowMs: 600_000) == nil)
    }

    @Test func journalSeesStartsThrottledActivityAndEnds() throws {
        let journal = RecordingJournal()
        let registry = SessionRegistry(policy: policy, journal: journal)
        let session = try start(registry)
        _ = registry.touch(id: session.id, nowMs: 1_000)  // within the journal interval: not written
        _ = registry.touch(id: session.id, nowMs: SessionRegistry.activityJournalIntervalMs)
        registry.end(id: session.id, reason: .logout, nowMs: 20_000, notify: false)
        #expect(journal.all == ["start \(session.id)", "update \(session.id)", "end \(session.id) logout 20000"])
    }

    @Test func riskEndReasonClosesWith4002() {
        #expect(SessionEndReason.risk.closeCode.rawValue == 4002)
        #expect(SessionEndReason.shutdown.closeCode.rawValue == 1001)
    }
}
