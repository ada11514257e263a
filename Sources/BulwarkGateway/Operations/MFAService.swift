import BulwarkAuth
import BulwarkCore
import BulwarkStore
import Synchronization

/// TOTP enrolment and verification (RFC 6238), shared by the CLI, the admin API and
/// `private/mfa.verify`, so every path seals, throttles and refuses replays the same way.
public final class MFAService: Sendable {
    public struct Policy: Sendable, Equatable {
        /// Shown in authenticator apps next to the account name.
        public var issuer = "Bulwark"
        /// Consecutive failures that are free; each further attempt waits `baseDelayMs`, doubling.
        public var freeFailures = 3
        public var baseDelayMs: Int64 = 1_000
        public var maxDelayMs: Int64 = 30_000
        /// Consecutive failures that lock the factor (NIST SP 800-63B: at most 100).
        public var lockAfterFailures = 10
        public var lockMs: Int64 = 15 * 60_000

        public init() {}
    }

    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// What enrolment hands to the user, once: nothing here is retrievable later.
    public struct Enrollment: Sendable {
        public let accountID: String
        public let otpauthURI: String
        public let secretBase32: String
        public let algorithm: TOTP.Algorithm
        public let digits: Int
        public let recoveryCodes: [String]
        /// The otpauth URI as a QR code PNG, for phones.
        public let qrPNG: [UInt8]
        public let qrText: String
    }

    public enum Verified: String, Sendable {
        case totp
        case recoveryCode = "recovery_code"
    }

    public enum Refusal: Error, Equatable, Sendable {
        case notEnrolled
        /// Wrong code, a replayed code, or an unknown or spent recovery code (one answer for all).
        case invalid
        /// Too many recent failures: try again after `retryAfterMs`.
        case throttled(retryAfterMs: Int64)
        /// Locked after repeated failures until `untilMs` (an operator can unlock).
        case locked(untilMs: Int64)
    }

    public struct Status: Sendable, Equatable {
        public let enrolled: Bool
        public let active: Bool
        public let algorithm: String?
        public let digits: Int?
        public let lockedUntilMs: Int64?
        public let recoveryCodesLeft: Int
    }

    let store: any Store
    let policy: Policy
    private let secretBox: @Sendable () throws -> SecretBox
    /// When each account's last failure happened (the count itself is in the store).
    private let lastFailure = Mutex<[String: Int64]>([:])

    public init(store: any Store, policy: Policy = Policy(), secretBox: @escaping @Sendable () throws -> SecretBox) {
        self.store = store
        self.policy = policy
        self.secretBox = secretBox
    }

    /// Creates (or replaces) the account's TOTP factor. It stays `pending` until a first valid code.
    public func enroll(accountID: String, algorithm: TOTP.Algorithm = .sha1, digits: Int = 6, nowMs: Int64) throws -> Enrollment {
        guard let account = try store.account(id: accountID) else { throw Failure("no account \(accountID)") }
        let secret = TOTP.generateSecret(for: algorithm)
        let totp: TOTP
        do {
            totp = try TOTP(secret: secret, algorithm: algorithm, digits: digits)
        } catch {
            throw Failure("digits must be within 6...8")
        }
        let sealed = try secretBox().seal(secret, boundTo: SealedSecretBinding.totpSeed(accountID: accountID))
        let codes = RecoveryCodes.generate()
        try store.saveTOTP(
            TOTPRecord(
                accountID: accountID, secretSealed: sealed, algorithm: algorithm.rawValue, digits: digits,
                periodSeconds: totp.periodSeconds, createdMs: nowMs),
            recoveryCodeHashes: codes.map(RecoveryCodes.hash))
        let uri = totp.otpauthURI(issuer: policy.issuer, accountName: account.name)
        let qr = try QRCode.encode(Array(uri.utf8))
        return Enrollment(
            accountID: accountID, otpauthURI: uri, secretBase32: Base32.encode(secret), algorithm: algorithm, digits: digits,
            recoveryCodes: codes, qrPNG: qr.png(), qrText: qr.text())
    }

    public func status(accountID: String) throws -> Status {
        guard let record = try store.totp(accountID: accountID) else {
            return Status(enrolled: false, active: false, algorithm: nil, digits: nil, lockedUntilMs: nil, recoveryCodesLeft: 0)
        }
        return Status(
            enrolled: true, active: record.status == .active, algorithm: record.algorithm, digits: record.digits,
            lockedUntilMs: record.lockedUntilMs, recoveryCodesLeft: try store.unusedRecoveryCodeHashes(accountID: accountID).count)
    }

    /// Whether the account has a factor that can satisfy a step-up.
    public func isEnrolled(accountID: String) -> Bool { (try? store.totp(accountID: accountID)) != nil }

    /// Checks a TOTP code (or a recovery code): each code works once, failures are throttled and
    /// lock the factor before `lockAfterFailures`.
    public func verify(accountID: String, code: String, nowMs: Int64) -> Result<Verified, Refusal> {
        guard let record = try? store.totp(accountID: accountID) else { return .failure(.notEnrolled) }
        if let until = record.lockedUntilMs, until > nowMs { return .failure(.locked(untilMs: until)) }
        if let wait = waitBeforeNextAttempt(accountID: accountID, failures: record.failures, nowMs: nowMs) {
            return .failure(.throttled(retryAfterMs: wait))
        }
        let accepted: Verified?
        if code.count == record.digits, code.allSatisfy(\.isASCII), code.allSatisfy(\.isNumber) {
            accepted = acceptTOTP(record, code: code, nowMs: nowMs) ? .totp : nil
        } else {
            accepted = acceptRecoveryCode(accountID: accountID, code: code, nowMs: nowMs) ? .recoveryCode : nil
        }
        if let accepted {
            lastFailure.withLock { _ = $0.removeValue(forKey: accountID) }
            return .success(accepted)
        }
        lastFailure.withLock { $0[accountID] = nowMs }
        let outcome = try? store.recordTOTPFailure(
            accountID: accountID, lockAfter: policy.lockAfterFailures, lockMs: policy.lockMs, nowMs: nowMs)
        if let until = outcome?.lockedUntilMs { return .failure(.locked(untilMs: until)) }
        return .failure(.invalid)
    }

    public func unlock(accountID: String) throws {
        do { try store.unlockTOTP(accountID: accountID) } catch let error as StoreError { throw Failure(error.description) }
        lastFailure.withLock { _ = $0.removeValue(forKey: accountID) }
    }

    public func remove(accountID: String) throws {
        do { try store.deleteTOTP(accountID: accountID) } catch let error as StoreError { throw Failure(error.description) }
    }

    // MARK: Internals

    private func acceptTOTP(_ record: TOTPRecord, code: String, nowMs: Int64) -> Bool {
        guard let algorithm = TOTP.Algorithm(rawValue: record.algorithm),
            let secret = try? secretBox().open(record.secretSealed, boundTo: SealedSecretBinding.totpSeed(accountID: record.accountID)),
            let totp = try? TOTP(secret: secret, algorithm: algorithm, digits: record.digits, periodSeconds: record.periodSeconds),
            let counter = totp.verify(code, atUnixMs: nowMs)
        else { return false }
        // The store accepts a counter only if it is newer than the last accepted one: a code (or an
        // older code of the window) is never accepted twice, even across gateways.
        return (try? store.acceptTOTPCounter(accountID: record.accountID, counter: Int64(counter), nowMs: nowMs)) == true
    }

    private func acceptRecoveryCode(accountID: String, code: String, nowMs: Int64) -> Bool {
        guard code.count <= 64, let hashes = try? store.unusedRecoveryCodeHashes(accountID: accountID) else { return false }
        // Compare against every unused hash (constant time each), then spend the one that matched.
        var matched: String?
        for hash in hashes where RecoveryCodes.matches(code, hash: hash) { matched = hash }
        guard let matched else { return false }
        return (try? store.spendRecoveryCode(accountID: accountID, codeHash: matched, nowMs: nowMs)) == true
    }

    /// Doubling waits after the free failures, measured from the last failure.
    func waitBeforeNextAttempt(accountID: String, failures: Int, nowMs: Int64) -> Int64? {
        guard failures >= policy.freeFailures, let last = lastFailure.withLock({ $0[accountID] }) else { return nil }
        let doublings = min(failures - policy.freeFailures, 20)
        let delay = min(policy.baseDelayMs << Int64(doublings), policy.maxDelayMs)
        let remaining = last + delay - nowMs
        return remaining > 0 ? remaining : nil
    }
}
