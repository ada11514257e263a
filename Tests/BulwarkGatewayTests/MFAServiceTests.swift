import BulwarkAuth
import BulwarkCore
import BulwarkSessions
import BulwarkStore
import Foundation
import NIOHTTP1
import Testing

@testable import BulwarkGateway

@Suite struct MFAServiceTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-mfa-\(UUID().uuidString)")
    let masterKey = SecureRandom.bytes(count: 32)

    func service(_ policy: MFAService.Policy = MFAService.Policy()) throws -> (MFAService, SQLiteStore, String) {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path)
        let account = try store.createAccount(name: "trader-\(UUID().uuidString.prefix(6))", nowMs: 0)
        let key = masterKey
        return (MFAService(store: store, policy: policy) { try SecretBox(masterKey: key) }, store, account.id)
    }

    func authenticator(_ enrollment: MFAService.Enrollment) throws -> TOTP {
        try TOTP(secret: try #require(Base32.decode(enrollment.secretBase32)), algorithm: enrollment.algorithm, digits: enrollment.digits)
    }

    let now: Int64 = 1_764_000_000_000

    @Test func enrolmentSealsTheSeedAndVerifiesCodesOnceEach() throws {
        let (mfa, store, account) = try service()
        let enrollment = try mfa.enroll(accountID: account, nowMs: now)
        #expect(enrollment.otpauthURI.hasPrefix("otpauth://totp/Bulwark:") && enrollment.recoveryCodes.count == 10)
        #expect(enrollment.qrPNG.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let stored = try #require(try store.totp(accountID: account))
        #expect(stored.secretSealed.hasPrefix("v1.") && !stored.secretSealed.contains(enrollment.secretBase32))
        #expect(try mfa.status(accountID: account) == MFAService.Status(
            enrolled: true, active: false, algorithm: "SHA1", digits: 6, lockedUntilMs: nil, recoveryCodesLeft: 10))

        let app = try authenticator(enrollment)
        let code = app.code(atUnixMs: now)
        #expect(mfa.verify(accountID: account, code: code, nowMs: now) == .success(.totp))
        #expect(try mfa.status(accountID: account).active)
        // The same code again, even a second later, is a replay.
        #expect(mfa.verify(accountID: account, code: code, nowMs: now + 1_000) == .failure(.invalid))
        // The next time step's code works once.
        #expect(mfa.verify(accountID: account, code: app.code(atUnixMs: now + 30_000), nowMs: now + 30_000) == .success(.totp))
    }

    @Test func codesTwoStepsAwayAreRefused() throws {
        let (mfa, _, account) = try service()
        let app = try authenticator(try mfa.enroll(accountID: account, nowMs: now))
        #expect(mfa.verify(accountID: account, code: app.code(atUnixMs: now - 60_000), nowMs: now) == .failure(.invalid))
        #expect(mfa.verify(accountID: account, code: app.code(atUnixMs: now + 60_000), nowMs: now) == .failure(.invalid))
        #expect(mfa.verify(accountID: account, code: app.code(atUnixMs: now - 30_000), nowMs: now) == .success(.totp))
    }

    @Test func bruteForceIsThrottledThenLockedUntilUnlocked() throws {
        var policy = MFAService.Policy()
        policy.lockAfterFailures = 5
        let (mfa, _, account) = try service(policy)
        let app = try authenticator(try mfa.enroll(accountID: account, nowMs: now))
        let wrong = app.code(atUnixMs: now + 3_600_000)
        var t = now
        for _ in 0..<3 { #expect(mfa.verify(accountID: account, code: wrong, nowMs: t) == .failure(.invalid)) }
        // After the free failures the next attempt must wait a second (then 2 s, 4 s, ...).
        #expect(mfa.verify(accountID: account, code: app.code(atUnixMs: t), nowMs: t + 10) == .failure(.throttled(retryAfterMs: 990)))
        t += 1_000
        #expect(mfa.verify(accountID: account, code: wrong, nowMs: t) == .failure(.invalid))
        #expect(mfa.verify(accountID: account, code: wrong, nowMs: t + 1_000) == .failure(.throttled(retryAfterMs: 1_000)))
        t += 2_000
        #expect(mfa.verify(accountID: account, code: wrong, nowMs: t) == .failure(.locked(untilMs: t + policy.lockMs)))
        #expect(mfa.verify(accountID: account, code: app.code(atUnixMs: t), nowMs: t + 1) == .failure(.locked(untilMs: t + policy.lockMs)))
        try mfa.unlock(accountID: account)
        #expect(mfa.verify(accountID: account, code: app.code(atUnixMs: t), nowMs: t + 1) == .success(.totp))
    }

    @Test func recoveryCodesWorkOnceAndInAnySpelling() throws {
        let (mfa, _, account) = try service()
        let enrollment = try mfa.enroll(accountID: account, nowMs: now)
        let code = enrollment.recoveryCodes[3]
        #expect(mfa.verify(accountID: account, code: code.lowercased(), nowMs: now) == .success(.recoveryCode))
        #expect(mfa.verify(accountID: account, code: code, nowMs: now) == .failure(.invalid))
        #expect(try mfa.status(accountID: account).recoveryCodesLeft == 9)
        #expect(mfa.verify(accountID: account, code: "NOT-A-REAL-CODE", nowMs: now) == .failure(.invalid))
    }

    @Test func noFactorMeansNotEnrolledAndAnotherAccountsSeedDoesNotOpen() throws {
        let (mfa, store, account) = try service()
        #expect(mfa.verify(accountID: account, code: "123456", nowMs: now) == .failure(.notEnrolled))
        _ = try mfa.enroll(accountID: account, nowMs: now)
        // A sealed seed copied onto another account's row does not open there (bound to the account).
        let other = try store.createAccount(name: "other-\(UUID().uuidString.prefix(6))", nowMs: 0)
        let stolen = try #require(try store.totp(accountID: account))
        try store.saveTOTP(
            TOTPRecord(accountID: other.id, secretSealed: stolen.secretSealed, algorithm: stolen.algorithm, digits: 6, periodSeconds: 30, createdMs: 0),
            recoveryCodeHashes: [])
        let box = try SecretBox(masterKey: masterKey)
        #expect(throws: SecretBox.Failure.self) { try box.open(stolen.secretSealed, boundTo: SealedSecretBinding.totpSeed(accountID: other.id)) }
        #expect(throws: MFAService.Failure.self) { try mfa.enroll(accountID: account, digits: 9, nowMs: now) }
    }
}

@Suite struct StepUpGateTests {
    let threshold = FixedDecimal(parsing: "1000")!

    func gate(risk: Bool = false, assurance: Assurance = .aal1, enrolled: Bool = true) -> StepUpGate {
        StepUpGate(orderNotionalThreshold: threshold, riskDemandsStepUp: risk, assurance: assurance, mfaEnrolled: { enrolled })
    }

    func reason(_ gate: StepUpGate, _ notional: FixedDecimal?) -> String? {
        do throws(RPCError) {
            try gate.checkOrder(notional: notional)
            return nil
        } catch {
            #expect(error.code == .mfaRequired)
            return error.reason
        }
    }

    @Test func largeOrdersNeedAFreshStepUp() {
        #expect(reason(gate(), FixedDecimal(parsing: "999.99")) == nil)
        #expect(reason(gate(), threshold) == "step_up_for_order_notional")
        #expect(reason(gate(assurance: .aal2), FixedDecimal(parsing: "5000")) == nil)
        // Unknown notional (market order on an empty book): only the risk rule applies.
        #expect(reason(gate(), nil) == nil)
    }

    @Test func riskAboveTheStepUpThresholdGatesEveryOrder() {
        #expect(reason(gate(risk: true), FixedDecimal(parsing: "1")) == "step_up_for_risk")
        #expect(reason(gate(risk: true, assurance: .aal2), FixedDecimal(parsing: "1")) == nil)
    }

    @Test func accountsWithoutAFactorAreToldTheyCannotStepUp() {
        #expect(reason(gate(risk: true, enrolled: false), nil) == "mfa_not_enrolled")
    }

    @Test func aNotionalThresholdIsOptional() {
        let open = StepUpGate(orderNotionalThreshold: nil, riskDemandsStepUp: false, assurance: .aal1, mfaEnrolled: { false })
        #expect(reason(open, FixedDecimal(parsing: "100000000")) == nil)
    }
}

@Suite struct AdminGuardTests {
    @Test func destructiveActionsAreTheOnesThatTakeAwayOrOpenUp() {
        func destructive(_ method: NIOHTTP1.HTTPMethod, _ path: String) -> Bool {
            AdminGuard.isDestructive(method, path.split(separator: "/").map(String.init))
        }
        for (method, path) in [
            (NIOHTTP1.HTTPMethod.POST, "/admin/v1/keys/k_1/revoke"), (.POST, "/admin/v1/keys/k_1/rotate"), (.POST, "/admin/v1/accounts/a_1/disable"),
            (.POST, "/admin/v1/accounts/a_1/sessions/revoke"), (.POST, "/admin/v1/sessions/s_1/revoke"), (.POST, "/admin/v1/kill-switches"),
            (.POST, "/admin/v1/kill-switches/release"), (.POST, "/admin/v1/ip-blocks"), (.POST, "/admin/v1/ip-blocks/remove"),
            (.POST, "/admin/v1/bans/ip:1.2.3.4/lift"), (.DELETE, "/admin/v1/accounts/a_1/mfa"),
        ] {
            #expect(destructive(method, path), "\(method) \(path)")
        }
        for (method, path) in [
            (NIOHTTP1.HTTPMethod.GET, "/admin/v1/sessions"), (.GET, "/admin/v1/audit"), (.POST, "/admin/v1/keys"),
            (.POST, "/admin/v1/accounts/a_1/enable"), (.POST, "/admin/v1/accounts/a_1/mfa"), (.POST, "/admin/v1/keys/k_1/unlock"),
        ] {
            #expect(!destructive(method, path), "\(method) \(path)")
        }
    }
}
