import BulwarkCore
import GRDB

/// An account's TOTP factor as stored: the seed stays sealed; counters make codes single-use.
public struct TOTPRecord: Sendable, Equatable {
    public enum Status: String, Sendable {
        /// Enrolled, not yet proven by a first valid code.
        case pending
        case active
    }

    public let accountID: String
    public let secretSealed: String
    public let algorithm: String
    public let digits: Int
    public let periodSeconds: Int64
    public var status: Status
    /// The time-step counter of the last accepted code: any code at or below it is a replay.
    public var lastCounter: Int64?
    public var failures: Int
    public var lockedUntilMs: Int64?
    public let createdMs: Int64
    public var confirmedMs: Int64?

    public init(
        accountID: String, secretSealed: String, algorithm: String, digits: Int, periodSeconds: Int64, status: Status = .pending,
        lastCounter: Int64? = nil, failures: Int = 0, lockedUntilMs: Int64? = nil, createdMs: Int64, confirmedMs: Int64? = nil
    ) {
        self.accountID = accountID
        self.secretSealed = secretSealed
        self.algorithm = algorithm
        self.digits = digits
        self.periodSeconds = periodSeconds
        self.status = status
        self.lastCounter = lastCounter
        self.failures = failures
        self.lockedUntilMs = lockedUntilMs
        self.createdMs = createdMs
        self.confirmedMs = confirmedMs
    }
}

extension SQLiteStore {
    /// Enrols (or re-enrols) an account's TOTP factor, replacing any earlier one and its recovery codes.
    public func saveTOTP(_ record: TOTPRecord, recoveryCodeHashes: [String]) throws {
        try pool.write { db in
            guard try Row.fetchOne(db, sql: "SELECT id FROM accounts WHERE id = ?", arguments: [record.accountID]) != nil else {
                throw StoreError.notFound("account \(record.accountID)")
            }
            try db.execute(sql: "DELETE FROM mfa_totp WHERE account_id = ?", arguments: [record.accountID])
            try db.execute(sql: "DELETE FROM mfa_recovery_codes WHERE account_id = ?", arguments: [record.accountID])
            try db.execute(
                sql: """
                    INSERT INTO mfa_totp (account_id, secret_sealed, algorithm, digits, period_s, status, last_counter, failures,
                        locked_until_ms, created_ms, confirmed_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.accountID, record.secretSealed, record.algorithm, record.digits, record.periodSeconds,
                    record.status.rawValue, record.lastCounter, record.failures, record.lockedUntilMs, record.createdMs,
                    record.confirmedMs,
                ])
            for hash in recoveryCodeHashes {
                try db.execute(
                    sql: "INSERT INTO mfa_recovery_codes (account_id, code_hash) VALUES (?, ?)", arguments: [record.accountID, hash])
            }
        }
    }

    public func totp(accountID: String) throws -> TOTPRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM mfa_totp WHERE account_id = ?", arguments: [accountID]).map(Self.totp)
        }
    }

    /// Accepts a verified code's counter only if it is newer than every accepted one, atomically,
    /// so two gateways (or two sockets) cannot both accept the same code. Clears failures and
    /// activates a pending factor.
    public func acceptTOTPCounter(accountID: String, counter: Int64, nowMs: Int64) throws -> Bool {
        try pool.write { db in
            try db.execute(
                sql: """
                    UPDATE mfa_totp SET last_counter = ?, failures = 0, locked_until_ms = NULL, status = 'active',
                        confirmed_ms = COALESCE(confirmed_ms, ?)
                    WHERE account_id = ? AND (last_counter IS NULL OR last_counter < ?)
                    """,
                arguments: [counter, nowMs, accountID, counter])
            return db.changesCount == 1
        }
    }

    /// Counts a failed code; from `lockAfter` consecutive failures the factor is locked until
    /// `nowMs + lockMs`. Returns the failure count and lock.
    public func recordTOTPFailure(accountID: String, lockAfter: Int, lockMs: Int64, nowMs: Int64) throws -> (failures: Int, lockedUntilMs: Int64?) {
        try pool.write { db in
            try db.execute(sql: "UPDATE mfa_totp SET failures = failures + 1 WHERE account_id = ?", arguments: [accountID])
            guard let row = try Row.fetchOne(db, sql: "SELECT failures FROM mfa_totp WHERE account_id = ?", arguments: [accountID]) else {
                return (0, nil)
            }
            let failures: Int = row["failures"]
            guard failures >= lockAfter else { return (failures, nil) }
            try db.execute(
                sql: "UPDATE mfa_totp SET locked_until_ms = ?, failures = 0 WHERE account_id = ?", arguments: [nowMs + lockMs, accountID])
            return (failures, nowMs + lockMs)
        }
    }

    /// Spends a recovery code (each works once); false if unknown or already used.
    public func spendRecoveryCode(accountID: String, codeHash: String, nowMs: Int64) throws -> Bool {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE mfa_recovery_codes SET used_ms = ? WHERE account_id = ? AND code_hash = ? AND used_ms IS NULL",
                arguments: [nowMs, accountID, codeHash])
            guard db.changesCount == 1 else { return false }
            try db.execute(
                sql: "UPDATE mfa_totp SET failures = 0, locked_until_ms = NULL WHERE account_id = ?", arguments: [accountID])
            return true
        }
    }

    /// The unused recovery codes' hashes (compared in constant time by the caller).
    public func unusedRecoveryCodeHashes(accountID: String) throws -> [String] {
        try pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT code_hash FROM mfa_recovery_codes WHERE account_id = ? AND used_ms IS NULL", arguments: [accountID])
        }
    }

    public func unlockTOTP(accountID: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE mfa_totp SET failures = 0, locked_until_ms = NULL WHERE account_id = ?", arguments: [accountID])
            guard db.changesCount == 1 else { throw StoreError.notFound("TOTP factor of account \(accountID)") }
        }
    }

    public func deleteTOTP(accountID: String) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM mfa_recovery_codes WHERE account_id = ?", arguments: [accountID])
            try db.execute(sql: "DELETE FROM mfa_totp WHERE account_id = ?", arguments: [accountID])
            guard db.changesCount == 1 else { throw StoreError.notFound("TOTP factor of account \(accountID)") }
        }
    }

    private static func totp(_ row: Row) -> TOTPRecord {
        TOTPRecord(
            accountID: row["account_id"], secretSealed: row["secret_sealed"], algorithm: row["algorithm"], digits: row["digits"],
            periodSeconds: row["period_s"], status: TOTPRecord.Status(rawValue: row["status"]) ?? .pending,
            lastCounter: row["last_counter"], failures: row["failures"], lockedUntilMs: row["locked_until_ms"],
            createdMs: row["created_ms"], confirmedMs: row["confirmed_ms"])
    }
}
