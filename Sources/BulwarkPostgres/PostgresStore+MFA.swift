import BulwarkCore
import BulwarkStore
import PostgresNIO

extension PostgresStore {
    /// Enrols (or re-enrols) an account's TOTP factor, replacing any earlier one and its recovery
    /// codes. The account row is locked first, so two nodes enrolling at once apply one after the other.
    public func saveTOTP(_ record: TOTPRecord, recoveryCodeHashes: [String]) throws {
        try transaction { db in
            guard try db.row("SELECT id FROM accounts WHERE id = $1 FOR NO KEY UPDATE", [.text(record.accountID)]) != nil else {
                throw StoreError.notFound("account \(record.accountID)")
            }
            try db.execute("DELETE FROM mfa_totp WHERE account_id = $1", [.text(record.accountID)])
            try db.execute("DELETE FROM mfa_recovery_codes WHERE account_id = $1", [.text(record.accountID)])
            try db.execute(
                """
                INSERT INTO mfa_totp (account_id, secret_sealed, algorithm, digits, period_s, status, last_counter, failures,
                    locked_until_ms, created_ms, confirmed_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                """,
                [
                    .text(record.accountID), .text(record.secretSealed), .text(record.algorithm), .int(record.digits),
                    .int(record.periodSeconds), .text(record.status.rawValue), .int(record.lastCounter), .int(record.failures),
                    .int(record.lockedUntilMs), .int(record.createdMs), .int(record.confirmedMs),
                ])
            for hash in recoveryCodeHashes {
                try db.execute("INSERT INTO mfa_recovery_codes (account_id, code_hash) VALUES ($1, $2)", [.text(record.accountID), .text(hash)])
            }
        }
    }

    public func totp(accountID: String) throws -> TOTPRecord? {
        try withConnection { db in try db.row("SELECT * FROM mfa_totp WHERE account_id = $1", [.text(accountID)]).map(Self.totp) }
    }

    /// One conditional UPDATE: a second caller (any node) waits for the first one's row lock,
    /// then PostgreSQL re-checks `last_counter < counter` on the new row and updates nothing.
    public func acceptTOTPCounter(accountID: String, counter: Int64, nowMs: Int64) throws -> Bool {
        try withConnection { db in
            try db.execute(
                """
                UPDATE mfa_totp SET last_counter = $1, failures = 0, locked_until_ms = NULL, status = 'active',
                    confirmed_ms = COALESCE(confirmed_ms, $2)
                WHERE account_id = $3 AND (last_counter IS NULL OR last_counter < $1)
                """,
                [.int(counter), .int(nowMs), .text(accountID)]) == 1
        }
    }

    public func recordTOTPFailure(accountID: String, lockAfter: Int, lockMs: Int64, nowMs: Int64) throws -> (failures: Int, lockedUntilMs: Int64?) {
        try transaction { db in
            guard
                let row = try db.row(
                    "UPDATE mfa_totp SET failures = failures + 1 WHERE account_id = $1 RETURNING failures", [.text(accountID)])
            else { return (0, nil) }
            let failures = try row.int("failures")
            guard failures >= lockAfter else { return (failures, nil) }
            try db.execute(
                "UPDATE mfa_totp SET locked_until_ms = $1, failures = 0 WHERE account_id = $2", [.int(nowMs + lockMs), .text(accountID)])
            return (failures, nowMs + lockMs)
        }
    }

    /// A conditional UPDATE (`used_ms IS NULL`), as `acceptTOTPCounter`: one caller spends a code.
    public func spendRecoveryCode(accountID: String, codeHash: String, nowMs: Int64) throws -> Bool {
        try transaction { db in
            guard
                try db.execute(
                    "UPDATE mfa_recovery_codes SET used_ms = $1 WHERE account_id = $2 AND code_hash = $3 AND used_ms IS NULL",
                    [.int(nowMs), .text(accountID), .text(codeHash)]) == 1
            else { return false }
            try db.execute("UPDATE mfa_totp SET failures = 0, locked_until_ms = NULL WHERE account_id = $1", [.text(accountID)])
            return true
        }
    }

    public func unusedRecoveryCodeHashes(accountID: String) throws -> [String] {
        try withConnection { db in
            try db.rows("SELECT code_hash FROM mfa_recovery_codes WHERE account_id = $1 AND used_ms IS NULL", [.text(accountID)])
                .map { try $0.text("code_hash") }
        }
    }

    public func unlockTOTP(accountID: String) throws {
        try withConnection { db in
            guard
                try db.execute("UPDATE mfa_totp SET failures = 0, locked_until_ms = NULL WHERE account_id = $1", [.text(accountID)]) == 1
            else { throw StoreError.notFound("TOTP factor of account \(accountID)") }
        }
    }

    public func deleteTOTP(accountID: String) throws {
        try transaction { db in
            try db.execute("DELETE FROM mfa_recovery_codes WHERE account_id = $1", [.text(accountID)])
            guard try db.execute("DELETE FROM mfa_totp WHERE account_id = $1", [.text(accountID)]) == 1 else {
                throw StoreError.notFound("TOTP factor of account \(accountID)")
            }
        }
    }

    private static func totp(_ row: PostgresRandomAccessRow) throws -> TOTPRecord {
        TOTPRecord(
            accountID: try row.text("account_id"), secretSealed: try row.text("secret_sealed"), algorithm: try row.text("algorithm"),
            digits: try row.int("digits"), periodSeconds: try row.int64("period_s"),
            status: TOTPRecord.Status(rawValue: try row.text("status")) ?? .pending, lastCounter: try row.optionalInt64("last_counter"),
            failures: try row.int("failures"), lockedUntilMs: try row.optionalInt64("locked_until_ms"), createdMs: try row.int64("created_ms"),
            confirmedMs: try row.optionalInt64("confirmed_ms"))
    }

    // MARK: Rate limits and bans

    public func accountTier(id: String) throws -> AccountTier? {
        try withConnection { db in
            try db.row("SELECT tier FROM accounts WHERE id = $1", [.text(id)]).map { AccountTier(rawValue: try $0.text("tier")) ?? .standard }
        }
    }

    public func setAccountTier(id: String, _ tier: AccountTier, nowMs: Int64) throws {
        try changeTransaction { db in
            guard try db.execute("UPDATE accounts SET tier = $1 WHERE id = $2", [.text(tier.rawValue), .text(id)]) == 1 else {
                throw StoreError.notFound("account \(id)")
            }
            try Self.appendChange(db, kind: .accountTierChanged, subject: id, nowMs: nowMs)
        }
    }

    public func recordBan(_ ban: BanRecord) throws {
        // The other nodes enforce it from the change feed.
        try changeTransaction { db in
            _ = try db.execute(
                """
                INSERT INTO bans (subject, since_ms, until_ms, level, reason, lifted_ms) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (subject) DO UPDATE SET since_ms = excluded.since_ms, until_ms = excluded.until_ms,
                    level = excluded.level, reason = excluded.reason, lifted_ms = excluded.lifted_ms
                """,
                [.text(ban.subject), .int(ban.sinceMs), .int(ban.untilMs), .int(ban.level), .text(ban.reason), .int(ban.liftedMs)])
            try Self.appendChange(db, kind: .banImposed, subject: ban.subject, nowMs: ban.sinceMs)
        }
    }

    public func activeBans(nowMs: Int64) throws -> [BanRecord] {
        try withConnection { db in
            try db.rows(
                #"SELECT * FROM bans WHERE lifted_ms IS NULL AND until_ms > $1 ORDER BY until_ms, subject COLLATE "C""#, [.int(nowMs)]
            ).map { row in
                BanRecord(
                    subject: try row.text("subject"), sinceMs: try row.int64("since_ms"), untilMs: try row.int64("until_ms"),
                    level: try row.int("level"), reason: try row.text("reason"), liftedMs: try row.optionalInt64("lifted_ms"))
            }
        }
    }

    public func liftBan(subject: String, nowMs: Int64, notify: Bool) throws {
        try changeTransaction { db in
            guard
                try db.execute(
                    "UPDATE bans SET lifted_ms = $1 WHERE subject = $2 AND lifted_ms IS NULL AND until_ms > $1", [.int(nowMs), .text(subject)]) == 1
            else { throw StoreError.notFound("ban of \(subject)") }
            if notify { try Self.appendChange(db, kind: .banLifted, subject: subject, nowMs: nowMs) }
        }
    }
}
