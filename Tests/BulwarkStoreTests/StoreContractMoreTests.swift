import BulwarkCore
import BulwarkStore
import Foundation
import Testing

/// More of the contract (every method of `Store`), on every backend in `Backend.available`.
@Suite struct StoreContractMoreTests {
    @Test(arguments: Backend.available) func keysLockUnlockExpireAndRecordUse(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        let account = try store.createAccount(name: "keys", nowMs: 1)
        let restrictions = KeyRestrictions(
            ipAllowlist: [IPNetwork("203.0.113.0/24")!], instruments: ["BTC-USD", "ETH-USD"], maxOrderNotional: FixedDecimal(parsing: "1000.5"))
        let key = try store.createKey(
            accountID: account.id, algorithm: .hmacSHA256, publicKey: [], scopes: [.read, .trade], label: "mm", expiresMs: nil,
            clientCertificatePin: "ab", restrictions: restrictions, sealedSecret: "v1.sealed", sealedPolicy: .aead, nowMs: 2)
        #expect(try store.apiKey(id: key.id) == key)
        try store.lockKey(id: key.id, untilMs: 500)
        #expect(try store.apiKey(id: key.id)?.lockedUntilMs == 500)
        let before = try store.latestChangeSeq()
        try store.unlockKey(id: key.id, nowMs: 10)
        #expect(try store.apiKey(id: key.id)?.lockedUntilMs == nil)
        #expect(try store.changes(afterSeq: before).map(\.kind) == [.keyUnlocked])
        #expect(throws: StoreError.notFound("key k_none")) { try store.unlockKey(id: "k_none", nowMs: 11) }
        try store.setKeyExpiry(id: key.id, expiresMs: 9_999)
        #expect(try store.apiKey(id: key.id)?.expiresMs == 9_999)
        #expect(throws: StoreError.notFound("key k_none")) { try store.setKeyExpiry(id: "k_none", expiresMs: 1) }
        try store.recordKeyUse(id: key.id, nowMs: 77)
        #expect(try store.apiKey(id: key.id)?.lastUsedMs == 77)
        #expect(try store.keys().map(\.id) == [key.id])
        #expect(try store.keys(accountID: "a_other").isEmpty)
    }

    @Test(arguments: Backend.available) func accountStatusTierAndListing(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        let first = try store.createAccount(name: "one", nowMs: 1)
        let second = try store.createAccount(name: "two", nowMs: 2)
        #expect(try store.accounts().map(\.id) == [first.id, second.id])
        let before = try store.latestChangeSeq()
        try store.setAccountStatus(id: first.id, .disabled, nowMs: 3)
        try store.setAccountStatus(id: first.id, .enabled, nowMs: 4)
        #expect(try store.changes(afterSeq: before).map(\.kind) == [.accountDisabled])
        #expect(try store.account(id: first.id)?.status == .enabled)
        #expect(throws: StoreError.notFound("account a_x")) { try store.setAccountStatus(id: "a_x", .disabled, nowMs: 5) }
        #expect(try store.account(named: "nobody") == nil)
    }

    @Test(arguments: Backend.available) func settingsAndDepositsByID(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        #expect(try store.setting("k") == nil)
        try store.setSetting("k", "v1")
        try store.setSetting("k", "v2")
        #expect(try store.setting("k") == "v2")
        let account = try store.createAccount(name: "dep", nowMs: 1)
        try store.deposit(accountID: account.id, asset: "USD", amount: FixedDecimal(parsing: "5")!, nowMs: 2)
        let deposit = try #require(try store.deposits().first)
        #expect(try store.deposit(id: deposit.id) == deposit)
        #expect(try store.deposits(afterID: deposit.id).isEmpty)
        #expect(try store.deposit(id: 999_999) == nil)
        #expect(throws: StoreError.notFound("account a_none")) {
            try store.deposit(accountID: "a_none", asset: "USD", amount: FixedDecimal(parsing: "1")!, nowMs: 3)
        }
        #expect(try store.changes(afterSeq: 0, limit: 10).last == ChangeEvent(seq: try store.latestChangeSeq(), kind: .deposit, subject: String(deposit.id)))
    }

    @Test(arguments: Backend.available) func liveSessionCountCountsOnlyLiveSessionsOfTheAccount(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        func record(_ id: String, _ account: String) -> SessionRecord {
            SessionRecord(
                id: id, accountID: account, credentialID: "k", authMethod: "signature", scopes: "read", clientIP: "203.0.113.9",
                network: "203.0.113.0/24", createdMs: 1, lastActivityMs: 1, idleTimeoutMs: 1000, absoluteDeadlineMs: 10_000, riskScore: 0,
                riskLevel: "low", mfaVerifiedMs: nil)
        }
        try store.saveSession(record("s1", "a_1"))
        try store.saveSession(record("s2", "a_1"))
        try store.saveSession(record("s3", "a_2"))
        #expect(try store.liveSessionCount(accountID: "a_1") == 2)
        try store.endSession(id: "s1", reason: "logout", atMs: 5)
        #expect(try store.liveSessionCount(accountID: "a_1") == 1)
        #expect(try store.liveSessionCount(accountID: "a_none") == 0)
    }

    @Test(arguments: Backend.available) func auditChainAppendsSearchesAndVerifies(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        let empty = try store.auditTail()
        #expect(empty.seq == 0 && empty.hash == AuditRecord.genesisHash)
        #expect(try store.appendAudit([]).isEmpty)
        let first = try store.appendAudit([
            AuditEntry(timeUs: 10, event: "auth.login", actor: "a_1", credentialID: "k_1", clientIP: "203.0.113.9", outcome: .success,
                details: ["method": "signature", "z": "last"]),
            AuditEntry(timeUs: 20, event: "auth.login", actor: "a_2", outcome: .failure, details: ["reason": "bad \"sig\"\n"]),
        ])
        let second = try store.appendAudit([AuditEntry(timeUs: 30, event: "admin.key.revoke", actor: "cli", outcome: .info)])
        #expect(first.map(\.seq) == [1, 2] && second.map(\.seq) == [3])
        #expect(second[0].previousHash == first[1].hash)
        let all = try store.auditRecords()
        #expect(all == first + second)
        let tail = try store.auditTail()
        #expect(tail.seq == 3 && tail.hash == second[0].hash)
        #expect(try store.auditRecords(afterSeq: 1, limit: 1).map(\.seq) == [2])
        #expect(try store.searchAudit(event: "AUTH.*").map(\.seq) == [2, 1])
        #expect(try store.searchAudit(actor: "cli").map(\.seq) == [3])
        #expect(try store.searchAudit(event: "auth.*", sinceUs: 15).map(\.seq) == [2])
        var verifier = AuditChainVerifier(identities: [])
        for record in all {
            let accepted = verifier.add(record)
            #expect(accepted)
        }
        #expect(verifier.result.records == 3 && verifier.result.problem == nil)
    }

    @Test(arguments: Backend.available) func killSwitchesAndIPBlocks(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        let account = try store.createAccount(name: "ks", nowMs: 1)
        let before = try store.latestChangeSeq()
        let engaged = try store.engageKillSwitch(scope: .account, subject: account.id, reason: "fraud", by: "op", nowMs: 2)
        // Idempotent: the active one comes back.
        #expect(try store.engageKillSwitch(scope: .account, subject: account.id, reason: "again", by: "op", nowMs: 3) == engaged)
        #expect(throws: StoreError.notFound("account a_none")) {
            try store.engageKillSwitch(scope: .account, subject: "a_none", reason: "", by: "op", nowMs: 3)
        }
        #expect(throws: StoreError.notFound("key k_none")) { try store.engageKillSwitch(scope: .key, subject: "k_none", reason: "", by: "op", nowMs: 3) }
        let global = try store.engageKillSwitch(scope: .global, subject: "*", reason: "halt", by: "op", nowMs: 4)
        #expect(try store.killSwitches() == [engaged, global])
        let released = try store.releaseKillSwitch(scope: .account, subject: account.id, by: "op2", nowMs: 5)
        #expect(released.releasedMs == 5 && released.releasedBy == "op2" && released.id == engaged.id)
        #expect(try store.killSwitches() == [global])
        #expect(try store.killSwitches(includeReleased: true).count == 2)
        #expect(try store.killSwitch(id: engaged.id) == released)
        #expect(throws: StoreError.self) { try store.releaseKillSwitch(scope: .account, subject: account.id, by: "op", nowMs: 6) }
        #expect(try store.changes(afterSeq: before).map(\.kind) == [.killSwitch, .killSwitch, .killSwitch])

        let network = IPNetwork("198.51.100.0/24")!
        let block = try store.addIPBlock(network, reason: "scan", by: "op", nowMs: 10, expiresMs: 100)
        _ = try store.addIPBlock(IPNetwork("2001:db8::/32")!, reason: "v6", by: "op", nowMs: 11, expiresMs: nil)
        #expect(try store.ipBlocks(activeAtMs: 50).count == 2)
        #expect(try store.ipBlocks(activeAtMs: 200).map(\.network.description) == ["2001:db8::/32"])
        #expect(try store.ipBlocks(activeAtMs: nil).first == block)
        #expect(try store.removeIPBlock(network, nowMs: 20) == 1)
        #expect(throws: StoreError.notFound("block of \(network)")) { try store.removeIPBlock(network, nowMs: 21) }
        #expect(try store.ipBlocks(activeAtMs: 50).count == 1)
    }

    @Test(arguments: Backend.available) func oauthClientsTokensAndSigningKeys(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        let account = try store.createAccount(name: "oauth", nowMs: 1)
        let client = try store.createOAuthClient(
            accountID: account.id, authMethod: .clientSecretBasic, jwks: nil, secretHash: [1, 2, 3], scopes: [.read, .trade], label: "bot",
            nowMs: 2)
        #expect(try store.oauthClient(id: client.id) == client)
        #expect(try store.oauthClients() == [client])
        #expect(try store.oauthClients(accountID: "a_none").isEmpty)
        #expect(throws: StoreError.notFound("account a_none")) {
            try store.createOAuthClient(accountID: "a_none", authMethod: .privateKeyJWT, jwks: "{}", secretHash: nil, scopes: [], label: "", nowMs: 1)
        }

        let refresh = RefreshTokenRecord(
            hash: "h1", familyID: "f1", clientID: client.id, accountID: account.id, scopes: [.read], jkt: "thumb", createdMs: 3,
            familyExpiresMs: 1_000)
        try store.insertRefreshToken(refresh)
        #expect(try store.refreshToken(hash: "h1") == refresh)
        #expect(try store.markRefreshTokenUsed(hash: "h1", nowMs: 4))
        #expect(!(try store.markRefreshTokenUsed(hash: "h1", nowMs: 5)))
        #expect(try store.refreshToken(hash: "h1")?.usedMs == 4)

        try store.recordAccessToken(IssuedAccessToken(jti: "j1", clientID: client.id, familyID: "f1", accountID: account.id, expiresMs: 500))
        try store.recordAccessToken(IssuedAccessToken(jti: "j2", clientID: client.id, familyID: "f1", accountID: account.id, expiresMs: 500))
        try store.recordAccessToken(IssuedAccessToken(jti: "j3", clientID: client.id, familyID: nil, accountID: account.id, expiresMs: 500))
        let before = try store.latestChangeSeq()
        #expect(try store.revokeRefreshFamily(familyID: "f1", nowMs: 6).sorted() == ["j1", "j2"])
        #expect(try store.refreshToken(hash: "h1")?.revokedMs == 6)
        #expect(try store.accessToken(jti: "j1")?.revokedMs == 6)
        try store.revokeAccessToken(jti: "j1", nowMs: 7)  // already revoked: no change
        #expect(try store.changes(afterSeq: before).map(\.subject).sorted() == ["j1", "j2"])
        #expect(try store.revokeOAuthClient(id: client.id, nowMs: 8) == ["j3"])
        #expect(try store.oauthClient(id: client.id)?.revokedMs == 8)
        #expect(throws: StoreError.notFound("client cl_none")) { try store.revokeOAuthClient(id: "cl_none", nowMs: 9) }

        try store.rotateSigningKey(SigningKeyRecord(kid: "kid1", algorithm: "ES256", sealedPrivateKey: "s1", createdMs: 10, retiredMs: nil))
        try store.rotateSigningKey(SigningKeyRecord(kid: "kid2", algorithm: "ES256", sealedPrivateKey: "s2", createdMs: 20, retiredMs: nil))
        #expect(try store.signingKeys().map(\.retiredMs) == [20, nil])
        try store.pruneSigningKeys(retiredBeforeMs: 21)
        #expect(try store.signingKeys().map(\.kid) == ["kid2"])
        #expect(try store.changes(afterSeq: before).filter { $0.kind == .signingKeysChanged }.count == 2)
    }

    @Test(arguments: Backend.available) func resealingRewritesEverySecretOrNone(_ backend: Backend) throws {
        let fixture = try backend.fixture()
        defer { fixture.close() }
        let store = fixture.store
        let account = try store.createAccount(name: "seal", nowMs: 1)
        let key = try store.createKey(
            accountID: account.id, algorithm: .hmacSHA256, publicKey: [], scopes: [.read], label: "", expiresMs: nil, sealedSecret: "old-k",
            nowMs: 1)
        try store.saveTOTP(
            TOTPRecord(accountID: account.id, secretSealed: "old-t", algorithm: "SHA1", digits: 6, periodSeconds: 30, createdMs: 1),
            recoveryCodeHashes: [])
        try store.rotateSigningKey(SigningKeyRecord(kid: "kid", algorithm: "ES256", sealedPrivateKey: "old-s", createdMs: 1, retiredMs: nil))
        struct Refused: Error {}
        #expect(throws: Refused.self) {
            try store.resealSecrets { binding, sealed in
                if binding.hasPrefix("oauth-signing:") { throw Refused() }
                return "new-" + sealed
            }
        }
        #expect(try store.apiKey(id: key.id)?.sealedSecret == "old-k")  // rolled back
        #expect(try store.resealSecrets { binding, sealed in "\(binding)|\(sealed)" } == 3)
        #expect(try store.apiKey(id: key.id)?.sealedSecret == "\(key.id)|old-k")
        #expect(try store.totp(accountID: account.id)?.secretSealed == "totp:\(account.id)|old-t")
        #expect(try store.signingKeys().first?.sealedPrivateKey == "oauth-signing:kid|old-s")
    }
}
