import BulwarkCore
import BulwarkStore
import Foundation
import Testing

@Suite struct RateLimitStoreTests {
    @Test(arguments: Backend.available) func accountsStartStandardAndTierChangesReachTheChangeFeed(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        let account = try store.createAccount(name: "tiered", nowMs: 1)
        #expect(try store.accountTier(id: account.id) == .standard)
        let before = try store.latestChangeSeq()
        try store.setAccountTier(id: account.id, .marketMaker, nowMs: 2)
        #expect(try store.accountTier(id: account.id) == .marketMaker)
        #expect(try store.changes(afterSeq: before).map(\.kind) == [.accountTierChanged])
        #expect(throws: StoreError.self) { try store.setAccountTier(id: "a_missing", .professional, nowMs: 3) }
        #expect(try store.accountTier(id: "a_missing") == nil)
    }

    @Test(arguments: Backend.available) func bansAreListedWhileInForceAndLiftedThroughTheChangeFeed(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        try store.recordBan(BanRecord(subject: "ip:203.0.113.7", sinceMs: 0, untilMs: 1_000, level: 1, reason: "rate_limit_abuse"))
        try store.recordBan(BanRecord(subject: "key:k_1", sinceMs: 0, untilMs: 500, level: 2, reason: "rate_limit_abuse"))
        #expect(try store.activeBans(nowMs: 10).map(\.subject) == ["key:k_1", "ip:203.0.113.7"])
        #expect(try store.activeBans(nowMs: 600).map(\.subject) == ["ip:203.0.113.7"])
        let before = try store.latestChangeSeq()
        try store.liftBan(subject: "ip:203.0.113.7", nowMs: 700)
        #expect(try store.activeBans(nowMs: 700).isEmpty)
        #expect(try store.changes(afterSeq: before).map(\.subject) == ["ip:203.0.113.7"])
        // Nothing in force: lifting again is an error (the CLI says so).
        #expect(throws: StoreError.self) { try store.liftBan(subject: "ip:203.0.113.7", nowMs: 800) }
        // A new ban of the same subject replaces the record.
        try store.recordBan(BanRecord(subject: "ip:203.0.113.7", sinceMs: 900, untilMs: 5_000, level: 2, reason: "connection_flood"))
        #expect(try store.activeBans(nowMs: 900).first?.level == 2)
    }
}
