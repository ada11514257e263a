import BulwarkAuth
import Testing

@Suite struct LoginThrottleTests {
    func throttle(lockout: Int = 20) -> LoginThrottle {
        var policy = LoginThrottle.Policy()
        policy.freeFailures = 3
        policy.freeFailuresPerIP = 10
        policy.baseDelayMs = 500
        policy.maxDelayMs = 30_000
        policy.lockoutFailures = lockout
        policy.lockoutMs = 60_000
        return LoginThrottle(policy: policy)
    }

    @Test func delaysGrowAfterTheFreeFailures() {
        let throttle = throttle()
        var now: Int64 = 1_000
        for _ in 0..<3 {
            #expect(throttle.admit(keyID: "k", ip: "a", nowMs: now) == .proceed)
            _ = throttle.recordFailure(keyID: "k", ip: "a", nowMs: now)
        }
        // 3 failures: 500 ms, then 1 s, 2 s, 4 s … doubling, capped at 30 s.
        #expect(throttle.admit(keyID: "k", ip: "a", nowMs: now) == .wait(retryAfterMs: 500))
        #expect(throttle.admit(keyID: "k", ip: "a", nowMs: now + 499) == .wait(retryAfterMs: 1))
        #expect(throttle.admit(keyID: "k", ip: "a", nowMs: now + 500) == .proceed)
        now += 500
        _ = throttle.recordFailure(keyID: "k", ip: "a", nowMs: now)
        #expect(throttle.admit(keyID: "k", ip: "b", nowMs: now) == .wait(retryAfterMs: 1000))
        for _ in 0..<10 { _ = throttle.recordFailure(keyID: "k", ip: "c", nowMs: now) }
        #expect(throttle.admit(keyID: "k", ip: "d", nowMs: now) == .wait(retryAfterMs: 30_000))
        // Another key from a clean address is unaffected.
        #expect(throttle.admit(keyID: "other", ip: "z", nowMs: now) == .proceed)
    }

    @Test func addressesGetTheirOwnThreshold() {
        let throttle = throttle()
        for index in 0..<10 { _ = throttle.recordFailure(keyID: "k\(index)", ip: "10.0.0.1", nowMs: 0) }
        // Ten different key ids (credential stuffing) from one address: the address now waits.
        #expect(throttle.admit(keyID: "fresh", ip: "10.0.0.1", nowMs: 0) == .wait(retryAfterMs: 500))
        #expect(throttle.admit(keyID: "fresh", ip: "10.0.0.2", nowMs: 0) == .proceed)
    }

    @Test func lockoutAtTheConfiguredCountAndSuccessResets() {
        let throttle = throttle(lockout: 5)
        var outcomes: [LoginThrottle.FailureOutcome] = []
        for step in 0..<5 { outcomes.append(throttle.recordFailure(keyID: "k", ip: "a", nowMs: Int64(step))) }
        #expect(outcomes.dropLast().allSatisfy { $0 == .counted })
        #expect(outcomes.last == .lockedKey(untilMs: 4 + 60_000))
        throttle.recordSuccess(keyID: "k", ip: "a")
        #expect(throttle.failures(keyID: "k") == 0)
        #expect(throttle.admit(keyID: "k", ip: "a", nowMs: 5) == .proceed)
    }

    @Test func unknownKeyIDsAreThrottledExactlyLikeKnownOnes() {
        // The throttle never consults the directory, so its answers cannot reveal whether a key exists.
        let throttle = throttle()
        for _ in 0..<4 { _ = throttle.recordFailure(keyID: "k_doesnotexist", ip: "a", nowMs: 0) }
        for _ in 0..<4 { _ = throttle.recordFailure(keyID: "k_real", ip: "b", nowMs: 0) }
        #expect(throttle.admit(keyID: "k_doesnotexist", ip: "x", nowMs: 0) == throttle.admit(keyID: "k_real", ip: "y", nowMs: 0))
    }

    @Test func memoryIsBounded() {
        var policy = LoginThrottle.Policy()
        policy.capacity = 100
        let throttle = LoginThrottle(policy: policy)
        for index in 0..<1_000 { _ = throttle.recordFailure(keyID: "k\(index)", ip: "ip\(index)", nowMs: Int64(index)) }
        #expect(throttle.failures(keyID: "k999") == 1)
        #expect(throttle.failures(keyID: "k0") == 0)
    }
}
