import BulwarkCore
import BulwarkStore
import Foundation
import Testing

@Suite struct SessionAndMFAStoreTests {
    func record(_ id: String, account: String = "a_1", createdMs: Int64 = 1) -> SessionRecord {
        SessionRecord(
            id: id, accountID: account, credentialID: "k_1", authMethod: "signature", scopes: "read,trade", clientIP: "203.0.113.9",
            network: "203.0.113.0/24", createdMs: createdMs, lastActivityMs: createdMs, idleTimeoutMs: 1_800_000,
            absoluteDeadlineMs: createdMs + 43_200_000, riskScore: 0.05, riskLevel: "low", mfaVerifiedMs: nil)
    }

    @Test(arguments: Backend.available) func sessionRecordsAreUpdatedWhileLiveAndFrozenOnceEnded(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        try store.saveSession(record("s_a"))
        var updated = record("s_a")
        updated.lastActivityMs = 50
        updated.riskScore = 0.6
        updated.riskLevel = "high"
        try store.saveSession(updated)
        #expect(try store.sessionRecord(id: "s_a")?.riskLevel == "high")
        try store.endSession(id: "s_a", reason: "revoked", atMs: 60)
        // A late activity write (another thread) does not resurrect or change an ended record.
        updated.lastActivityMs = 70
        try store.saveSession(updated)
        let ended = try #require(try store.sessionRecord(id: "s_a"))
        #expect(ended.endedMs == 60 && ended.endReason == "revoked" && ended.lastActivityMs == 50 && !ended.isLive)
        // The first end wins.
        try store.endSession(id: "s_a", reason: "expired", atMs: 80)
        #expect(try store.sessionRecord(id: "s_a")?.endReason == "revoked")
    }

    @Test(arguments: Backend.available) func aLiveSessionsChannelsAreKeptAndFrozenOnceEnded(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        try store.saveSession(record("s_c"))
        #expect(try store.sessionRecord(id: "s_c")?.subscriptions == [])
        try store.saveSessionSubscriptions(id: "s_c", channels: ["trades.BTC-USD", "orders"])
        #expect(try store.sessionRecord(id: "s_c")?.subscriptions == ["orders", "trades.BTC-USD"])
        // An activity write keeps them.
        try store.saveSession(record("s_c"))
        #expect(try store.sessionRecord(id: "s_c")?.subscriptions == ["orders", "trades.BTC-USD"])
        try store.endSession(id: "s_c", reason: "logout", atMs: 9)
        try store.saveSessionSubscriptions(id: "s_c", channels: [])
        #expect(try store.sessionRecord(id: "s_c")?.subscriptions == ["orders", "trades.BTC-USD"])
    }

    @Test(arguments: Backend.available) func listingFiltersLiveAndByAccountNewestFirst(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        try store.saveSession(record("s_old", createdMs: 1))
        try store.saveSession(record("s_new", createdMs: 2))
        try store.saveSession(record("s_other", account: "a_2", createdMs: 3))
        try store.endSession(id: "s_old", reason: "logout", atMs: 5)
        #expect(try store.sessionRecords(accountID: "a_1").map(\.id) == ["s_new"])
        #expect(try store.sessionRecords(accountID: "a_1", includeEnded: true).map(\.id) == ["s_new", "s_old"])
        #expect(try store.sessionRecords().map(\.id) == ["s_other", "s_new"])
    }

    @Test(arguments: Backend.available) func orphanedSessionsEndAsShutdownAtTheNextStart(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        try store.saveSession(record("s_1"))
        try store.saveSession(record("s_2"))
        try store.endSession(id: "s_2", reason: "logout", atMs: 3)
        #expect(try store.endOrphanedSessions(atMs: 9) == 1)
        #expect(try store.sessionRecord(id: "s_1")?.endReason == "shutdown")
        #expect(try store.sessionRecord(id: "s_2")?.endReason == "logout")
    }

    @Test(arguments: Backend.available) func operatorRevocationGoesThroughTheChangeFeedForLiveSessionsOnly(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        try store.saveSession(record("s_live"))
        let before = try store.latestChangeSeq()
        try store.requestSessionRevocation(id: "s_live", nowMs: 4)
        let changes = try store.changes(afterSeq: before)
        #expect(changes.map(\.kind) == [.sessionRevoked] && changes.first?.subject == "s_live")
        #expect(throws: StoreError.notFound("session s_missing")) { try store.requestSessionRevocation(id: "s_missing", nowMs: 5) }
        try store.endSession(id: "s_live", reason: "revoked", atMs: 6)
        #expect(throws: StoreError.self) { try store.requestSessionRevocation(id: "s_live", nowMs: 7) }
    }

    @Test(arguments: Backend.available) func loginOriginsTellNewNetworksFromNewAddresses(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        let first = try store.recordLoginOrigin(credentialID: "k", ip: "203.0.113.9", network: "203.0.113.0/24", nowMs: 1)
        #expect(first == OriginNovelty(newNetwork: true, newIP: true, firstLogin: true))
        let again = try store.recordLoginOrigin(credentialID: "k", ip: "203.0.113.9", network: "203.0.113.0/24", nowMs: 2)
        #expect(again == OriginNovelty(newNetwork: false, newIP: false, firstLogin: false))
        let neighbour = try store.recordLoginOrigin(credentialID: "k", ip: "203.0.113.77", network: "203.0.113.0/24", nowMs: 3)
        #expect(neighbour == OriginNovelty(newNetwork: false, newIP: true, firstLogin: false))
        let elsewhere = try store.recordLoginOrigin(credentialID: "k", ip: "198.51.100.1", network: "198.51.100.0/24", nowMs: 4)
        #expect(elsewhere.newNetwork && elsewhere.newIP)
        // Another credential has its own history.
        #expect(try store.recordLoginOrigin(credentialID: "k2", ip: "203.0.113.9", network: "203.0.113.0/24", nowMs: 5).firstLogin)
    }

    @Test(arguments: Backend.available) func loginOriginHistoryIsBounded(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        for i in 0..<(SQLiteStore.maxOriginsPerCredential + 20) {
            _ = try store.recordLoginOrigin(credentialID: "k", ip: "10.\(i / 256).\(i % 256).1", network: "10.\(i / 256).\(i % 256).0/24", nowMs: Int64(i))
        }
        // The oldest origin was forgotten, the newest is remembered.
        #expect(try store.recordLoginOrigin(credentialID: "k", ip: "10.0.0.1", network: "10.0.0.0/24", nowMs: 10_000).newNetwork)
        let newest = SQLiteStore.maxOriginsPerCredential + 19
        #expect(!(try store.recordLoginOrigin(
            credentialID: "k", ip: "10.\(newest / 256).\(newest % 256).1", network: "10.\(newest / 256).\(newest % 256).0/24", nowMs: 10_001).newNetwork))
    }

    @Test(arguments: Backend.available) func totpCountersOnlyMoveForwardSoCodesAreSingleUse(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        let account = try store.createAccount(name: "mfa", nowMs: 1)
        try store.saveTOTP(
            TOTPRecord(accountID: account.id, secretSealed: "v1.x.y", algorithm: "SHA1", digits: 6, periodSeconds: 30, createdMs: 1),
            recoveryCodeHashes: ["h1", "h2"])
        #expect(try store.totp(accountID: account.id)?.status == .pending)
        #expect(try store.acceptTOTPCounter(accountID: account.id, counter: 100, nowMs: 2))
        #expect(try store.totp(accountID: account.id)?.status == .active)
        #expect(!(try store.acceptTOTPCounter(accountID: account.id, counter: 100, nowMs: 3)))  // replay
        #expect(!(try store.acceptTOTPCounter(accountID: account.id, counter: 99, nowMs: 3)))   // older code of the window
        #expect(try store.acceptTOTPCounter(accountID: account.id, counter: 101, nowMs: 4))
    }

    @Test(arguments: Backend.available) func failuresLockAndRecoveryCodesAreSpentOnce(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        let account = try store.createAccount(name: "locks", nowMs: 1)
        try store.saveTOTP(
            TOTPRecord(accountID: account.id, secretSealed: "s", algorithm: "SHA1", digits: 6, periodSeconds: 30, createdMs: 1),
            recoveryCodeHashes: ["h1", "h2"])
        for expected in 1...2 {
            let outcome = try store.recordTOTPFailure(accountID: account.id, lockAfter: 3, lockMs: 1000, nowMs: 10)
            #expect(outcome.failures == expected && outcome.lockedUntilMs == nil)
        }
        #expect(try store.recordTOTPFailure(accountID: account.id, lockAfter: 3, lockMs: 1000, nowMs: 10).lockedUntilMs == 1010)
        #expect(try store.totp(accountID: account.id)?.lockedUntilMs == 1010)
        try store.unlockTOTP(accountID: account.id)
        #expect(try store.totp(accountID: account.id)?.lockedUntilMs == nil)
        #expect(try store.spendRecoveryCode(accountID: account.id, codeHash: "h1", nowMs: 20))
        #expect(!(try store.spendRecoveryCode(accountID: account.id, codeHash: "h1", nowMs: 21)))
        #expect(try store.unusedRecoveryCodeHashes(accountID: account.id) == ["h2"])
        // Re-enrolment replaces the factor and its codes.
        try store.saveTOTP(
            TOTPRecord(accountID: account.id, secretSealed: "t", algorithm: "SHA256", digits: 8, periodSeconds: 30, createdMs: 30),
            recoveryCodeHashes: ["h3"])
        #expect(try store.unusedRecoveryCodeHashes(accountID: account.id) == ["h3"])
        try store.deleteTOTP(accountID: account.id)
        #expect(try store.totp(accountID: account.id) == nil)
        #expect(throws: StoreError.self) { try store.deleteTOTP(accountID: account.id) }
    }
}
