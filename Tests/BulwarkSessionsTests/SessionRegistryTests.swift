import BulwarkCore
import BulwarkSessions
import Synchronization
import Testing

final class RecordingListener: SessionListener {
    let ended = Mutex<[(String, SessionEndReason)]>([])
    func sessionEnded(_ session: Session, reason: SessionEndReason) { ended.withLock { $0.append((session.id, reason)) } }
    var reasons: [SessionEndReason] { ended.withLock { $0.map(\.1) } }
}

@Suite struct SessionRegistryTests {
    let policy = SessionPolicy(idleTimeoutMs: 1000, absoluteTimeoutMs: 5000)

    @Test func policyIsCappedAtNISTAAL2Limits() {
        let wide = SessionPolicy(idleTimeoutMs: 10 * 3_600_000, absoluteTimeoutMs: 100 * 3_600_000)
        #expect(wide.idleTimeoutMs == 3_600_000)
        #expect(wide.absoluteTimeoutMs == 24 * 3_600_000)
    }

    @Test func sessionIDsHave128RandomBits() {
        let registry = SessionRegistry(policy: policy)
        let listener = RecordingListener()
        let ids = (0..<100).map { _ in
            registry.create(accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "127.0.0.1", nowMs: 0, listener: listener).id
        }
        #expect(Set(ids).count == 100)
        #expect(ids.allSatisfy { $0.hasPrefix("s_") && Base64URL.decode(String($0.dropFirst(2)))?.count == 16 })
    }

    @Test func idleAndAbsoluteExpiry() {
        let registry = SessionRegistry(policy: policy)
        let listener = RecordingListener()
        let session = registry.create(accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 0, listener: listener)
        #expect(session.expiresAtMs == 1000)
        // Activity pushes the idle deadline, never past the absolute one.
        for t in stride(from: Int64(900), through: 4500, by: 900) { #expect(registry.touch(id: session.id, nowMs: t) != nil) }
        #expect(registry.session(id: session.id)?.expiresAtMs == 5000)
        #expect(registry.expire(nowMs: 4999) == 0)
        #expect(registry.expire(nowMs: 5000) == 1)
        #expect(listener.reasons == [.expired])
        #expect(registry.touch(id: session.id, nowMs: 5001) == nil)
    }

    @Test func idleSessionCannotBeTouchedBackToLife() {
        let registry = SessionRegistry(policy: policy)
        let session = registry.create(accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 0, listener: RecordingListener())
        #expect(registry.touch(id: session.id, nowMs: 1000) == nil)
    }

    @Test func revocationByKeyAndAccountReachesListeners() {
        let registry = SessionRegistry(policy: policy)
        let a = RecordingListener()
        let b = RecordingListener()
        let c = RecordingListener()
        _ = registry.create(accountID: "a1", keyID: "k1", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 0, listener: a)
        _ = registry.create(accountID: "a1", keyID: "k2", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 0, listener: b)
        _ = registry.create(accountID: "a2", keyID: "k3", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: 0, listener: c)
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
