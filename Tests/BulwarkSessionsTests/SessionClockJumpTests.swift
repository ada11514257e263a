import BulwarkCore
import BulwarkSessions
import Testing

/// Wall-clock jumps (an NTP step, an operator setting the date): session timeouts must fail closed.
/// A jump forward ends sessions at the next sweep; a jump backward never lengthens a session past
/// the absolute deadline fixed when it was created (catalogue G71/G72, ASVS 7.3.1/7.3.2).
@Suite struct SessionClockJumpTests {
    let policy = SessionPolicy(idleTimeoutMs: 1000, absoluteTimeoutMs: 5000)
    let start: Int64 = 1_700_000_000_000

    @Test func aForwardJumpEndsSessionsAtTheNextSweepAndTheyStayEnded() throws {
        let registry = SessionRegistry(policy: policy)
        let listener = RecordingListener()
        let session = try registry.create(
            accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: start, listener: listener)
        #expect(registry.expire(nowMs: start + 3_600_000) == 1)
        #expect(listener.reasons == [.expired])
        // The clock stepping back again does not bring the session back.
        #expect(registry.touch(id: session.id, nowMs: start + 10) == nil)
        #expect(registry.session(id: session.id) == nil)
    }

    @Test func aBackwardJumpNeverExtendsTheAbsoluteDeadline() throws {
        let registry = SessionRegistry(policy: policy)
        let listener = RecordingListener()
        let session = try registry.create(
            accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: start, listener: listener)
        // The clock goes back an hour and the client keeps busy at the earlier times.
        let earlier = start - 3_600_000
        for t in stride(from: earlier, through: earlier + 4000, by: 500) {
            if let touched = registry.touch(id: session.id, nowMs: t) {
                #expect(touched.expiresAtMs <= start + policy.absoluteTimeoutMs)
            }
        }
        #expect((registry.session(id: session.id)?.expiresAtMs ?? 0) <= start + policy.absoluteTimeoutMs)
        // Once real time reaches the deadline fixed at creation, the session ends.
        #expect(registry.expire(nowMs: start + policy.absoluteTimeoutMs) == 1)
        #expect(listener.reasons == [.expired])
    }

    @Test func aBackwardJumpDoesNotPostponeTheIdleDeadline() throws {
        let registry = SessionRegistry(policy: policy)
        let session = try registry.create(
            accountID: "a", keyID: "k", scopes: [.read], authMethod: "signature", clientIP: "ip", nowMs: start, listener: RecordingListener())
        // Activity stamped with an earlier time cannot move the idle deadline later than it was.
        _ = registry.touch(id: session.id, nowMs: start - 60_000)
        #expect((registry.session(id: session.id)?.expiresAtMs ?? 0) <= start + policy.idleTimeoutMs)
        #expect(registry.expire(nowMs: start + policy.idleTimeoutMs) == 1)
    }
}
