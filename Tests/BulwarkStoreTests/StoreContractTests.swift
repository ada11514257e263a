import BulwarkCore
import BulwarkStore
import Foundation
import Testing

/// Contract tests: each runs on every backend in `Backend.available`.
@Suite struct StoreContractTests {
    @Test(arguments: Backend.available) func accountsAndKeysRoundTrip(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        let account = try store.createAccount(name: "alice", nowMs: 1)
        #expect(try store.account(id: account.id) == account)
        #expect(try store.account(named: "alice") == account)
        #expect(throws: StoreError.conflict("account named alice")) { try store.createAccount(name: "alice", nowMs: 2) }
        let key = try store.createKey(
            accountID: account.id, algorithm: .es256, publicKey: [4] + [UInt8](repeating: 7, count: 64), scopes: [.read, .cancel],
            label: "bot", expiresMs: 99, nowMs: 3)
        #expect(try store.apiKey(id: key.id) == key)
        #expect(try store.keys(accountID: account.id) == [key])
        #expect(throws: StoreError.notFound("account a_nope")) {
            try store.createKey(accountID: "a_nope", algorithm: .ed25519, publicKey: [], scopes: [.read], label: "", expiresMs: nil, nowMs: 0)
        }
    }

    @Test(arguments: Backend.available) func revocationIsRecordedInTheChangeFeed(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        let account = try store.createAccount(name: "bob", nowMs: 1)
        let key = try store.createKey(accountID: account.id, algorithm: .ed25519, publicKey: [1], scopes: [.read], label: "", expiresMs: nil, nowMs: 1)
        let before = try store.latestChangeSeq()
        try store.revokeKey(id: key.id, nowMs: 5)
        #expect(try store.apiKey(id: key.id)?.status == .revoked)
        let changes = try store.changes(afterSeq: before)
        #expect(changes.map(\.kind) == [.keyRevoked] && changes.first?.subject == key.id)
        #expect(throws: StoreError.notFound("key k_missing")) { try store.revokeKey(id: "k_missing", nowMs: 6) }
    }

    @Test(arguments: Backend.available) func depositsAreALedgerWithChanges(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        let account = try store.createAccount(name: "carol", nowMs: 1)
        try store.deposit(accountID: account.id, asset: "USD", amount: FixedDecimal(parsing: "100.5")!, nowMs: 2)
        try store.deposit(accountID: account.id, asset: "BTC", amount: FixedDecimal(parsing: "0.000000000000000001")!, nowMs: 3)
        let deposits = try store.deposits()
        #expect(deposits.map(\.amount.description) == ["100.5", "0.000000000000000001"])
        #expect(try store.changes(afterSeq: 0).filter { $0.kind == .deposit }.count == 2)
        #expect(throws: StoreError.invalid("amount must be positive")) {
            try store.deposit(accountID: account.id, asset: "USD", amount: .zero, nowMs: 4)
        }
    }

    @Test(arguments: Backend.available) func reopeningKeepsDataAndMigrationsAreIdempotent(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let first = fixture.store
        let account = try first.createAccount(name: "dave", nowMs: 1)
        let second = try fixture.reopen()
        #expect(try second.account(id: account.id) == account)
        #expect(second.ping())
    }
}

@Suite struct DepositLimitTests {
    @Test func depositsAboveTheMaximumAreRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path)
        let account = try store.createAccount(name: "erin", nowMs: 1)
        try store.deposit(accountID: account.id, asset: "USD", amount: Deposit.maximumAmount, nowMs: 2)
        #expect(throws: StoreError.self) {
            try store.deposit(accountID: account.id, asset: "USD", amount: Deposit.maximumAmount + FixedDecimal(units: 1), nowMs: 3)
        }
    }
}
