import BulwarkCore
import BulwarkSessions
import Synchronization
import Testing

final class RecordingListener: SessionListener {
    let ended = Mutex<[(String, SessionEndReason)]>([])
    let warned = Mutex<[(String, Int64)]>([])
    func sessionEnded(_ session: Session, reason: SessionEndReason) { ended.withLock { $0.append((session.id, reason)) } }
    func sessionExpiring(_ session: Session) { warned.withLock { $0.append((session.id, session.expiresAtMs)) } }
    var reasons: [SessionEndReason] { ended.withLock { $0.map(\.1) } }
    var warnings: [Int64] { warned.withLock { $0.map(\.1) } }
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
        #expect(registry.endAll(keyID: "k1", reason: .keyRevoked) == 1)
        #expect(a.reasons == [.keyRevoked] && b.reasons.isEmpty)
        #expect(registry.endAll(accountID: "a1", reason: .accountDisabled) == 1)
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
