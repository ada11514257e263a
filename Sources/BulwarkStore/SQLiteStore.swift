import BulwarkCore
import Foundation
import GRDB

/// A change another process made that a running server must apply (PROTOCOL.md §9: "the server
/// sees the change within a second").
public struct ChangeEvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case keyRevoked = "key_revoked"
        case keyUnlocked = "key_unlocked"
        case accountDisabled = "account_disabled"
        case deposit
        /// An operator revoked one session (`bulwark sessions revoke`).
        case sessionRevoked = "session_revoked"
        /// A gateway node took over a live session another node held (a resume after a reconnect
        /// landed elsewhere): the previous holder lets go of it without ending it.
        case sessionMoved = "session_moved"
        /// A kill switch was engaged or released (subject: its row id).
        case killSwitch = "kill_switch"
        /// The IP block list changed.
        case ipBlocks = "ip_blocks"
        /// An operator lifted a ban (`bulwark bans lift`); the subject is `ip:…` or `key:…`.
        case banLifted = "ban_lifted"
        /// A gateway banned a subject (`ip:…` or `key:…`): the other nodes of a cluster enforce it too.
        case banImposed = "ban_imposed"
        /// An operator changed an account's rate-limit tier (`bulwark accounts set-tier`).
        case accountTierChanged = "account_tier_changed"
        /// An OAuth access token was revoked (RFC 7009, family revocation, client revocation); the
        /// subject is its `jti`, which is the credential id of the sessions it opened.
        case tokenRevoked = "token_revoked"
        /// The token-signing keys changed (`bulwark oauth keys rotate`).
        case signingKeysChanged = "signing_keys_changed"
    }

    public let seq: Int64
    public let kind: Kind
    public let subject: String

    public init(seq: Int64, kind: Kind, subject: String) {
        self.seq = seq
        self.kind = kind
        self.subject = subject
    }
}

public struct Deposit: Sendable, Equatable {
    /// The largest single deposit (10^15 units of an asset): far above any real funding, and low
    /// enough that balances stay far from the 128-bit limit of `FixedDecimal`.
    public static let maximumAmount = FixedDecimal(integer: 1_000_000_000_000_000)

    /// What every store checks before crediting: positive, and at most `maximumAmount`.
    public static func checkAmount(_ amount: FixedDecimal) throws {
        guard amount.isPositive else { throw StoreError.invalid("amount must be positive") }
        guard amount <= maximumAmount else { throw StoreError.invalid("amount above the maximum deposit of \(maximumAmount)") }
    }


    public let id: Int64
    public let accountID: String
    public let asset: String
    public let amount: FixedDecimal

    public init(id: Int64, accountID: String, asset: String, amount: FixedDecimal) {
        self.id = id
        self.accountID = accountID
        self.asset = asset
        self.amount = amount
    }
}

public enum StoreError: Error, Equatable, CustomStringConvertible {
    case notFound(String)
    case conflict(String)
    case invalid(String)
    /// The database did not answer in time, refused the connection, or failed the statement for a
    /// reason of its own (PostgreSQL down, pool exhausted, timeout). Callers fail closed: a login
    /// or an order that needs the store is refused with a clear error, and the next call retries.
    case unavailable(String)

    public var description: String {
        switch self {
        case .notFound(let what): "not found: \(what)"
        case .conflict(let what): "already exists: \(what)"
        case .invalid(let what): "invalid: \(what)"
        case .unavailable(let what): "store unavailable: \(what)"
        }
    }
}

/// The SQLite store (GRDB, WAL mode): accounts, API keys, deposits and the change feed.
///
/// WAL lets the CLI write while `serve` reads; a busy timeout covers the rare writer overlap.
public final class SQLiteStore: Store, Sendable {
    /// Internal so the store's extensions (sessions, MFA) in other files share it.
    let pool: DatabasePool

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.foreignKeysEnabled = true
        pool = try DatabasePool(path: path, configuration: configuration)
        try Schema.sqliteMigrator.migrate(pool)
    }

    // MARK: Accounts

    public func createAccount(name: String, nowMs: Int64) throws -> AccountRecord {
        let record = AccountRecord(id: Identifier.random(prefix: "a", bytes: 12), name: name, status: .enabled, createdMs: nowMs)
        do {
            try pool.write { db in
                try db.execute(
                    sql: "INSERT INTO accounts (id, name, status, created_ms) VALUES (?, ?, ?, ?)",
                    arguments: [record.id, record.name, record.status.rawValue, record.createdMs])
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw StoreError.conflict("account named \(name)")
        }
        return record
    }

    public func account(id: String) throws -> AccountRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM accounts WHERE id = ?", arguments: [id]).map(Self.account)
        }
    }

    public func account(named name: String) throws -> AccountRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM accounts WHERE name = ?", arguments: [name]).map(Self.account)
        }
    }

    public func accounts() throws -> [AccountRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM accounts ORDER BY created_ms, id").map(Self.account)
        }
    }

    private static func account(_ row: Row) -> AccountRecord {
        AccountRecord(
            id: row["id"], name: row["name"], status: AccountStatus(rawValue: row["status"]) ?? .disabled,
            createdMs: row["created_ms"])
    }

    // MARK: API keys

    public func insertKey(_ record: APIKeyRecord) throws {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO api_keys (id, account_id, algorithm, public_key, scopes, label, status, created_ms, expires_ms,
                        client_cert_sha256, ip_allowlist, instrument_allowlist, max_order_notional, secret_sealed, sealed_policy)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.id, record.accountID, record.algorithm.rawValue, Data(record.publicKey),
                    Scope.render(record.scopes), record.label, record.status.rawValue, record.createdMs,
                    record.expiresMs, record.clientCertificatePin,
                    record.restrictions.ipAllowlist.map(\.description).joined(separator: ","),
                    record.restrictions.instruments.map { $0.sorted().joined(separator: ",") },
                    record.restrictions.maxOrderNotional?.description, record.sealedSecret, record.sealedPolicy.rawValue,
                ])
        }
    }

    public func apiKey(id: String) throws -> APIKeyRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE id = ?", arguments: [id]).map(Self.key)
        }
    }

    public func keys(accountID: String?) throws -> [APIKeyRecord] {
        try pool.read { db in
            if let accountID {
                return try Row.fetchAll(
                    db, sql: "SELECT * FROM api_keys WHERE account_id = ? ORDER BY created_ms, id", arguments: [accountID]
                ).map(Self.key)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM api_keys ORDER BY created_ms, id").map(Self.key)
        }
    }

    /// Revokes a key and records the change for running servers; idempotent.
    public func revokeKey(id: String, nowMs: Int64) throws {
        try pool.write { db in
            guard try Row.fetchOne(db, sql: "SELECT id FROM api_keys WHERE id = ?", arguments: [id]) != nil else {
                throw StoreError.notFound("key \(id)")
            }
            try db.execute(
                sql: "UPDATE api_keys SET status = 'revoked', revoked_ms = COALESCE(revoked_ms, ?) WHERE id = ?",
                arguments: [nowMs, id])
            try Self.appendChange(db, kind: .keyRevoked, subject: id, nowMs: nowMs)
        }
    }

    /// Re-seals every stored secret (master-key rotation) in one transaction: all or nothing.
    /// `transform` gets the record binding each secret was sealed to: the key id for HMAC secrets,
    /// `totp:<account id>` for TOTP seeds.
    public func resealSecrets(_ transform: (_ binding: String, _ sealed: String) throws -> String) throws -> Int {
        try pool.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT id, secret_sealed FROM api_keys WHERE secret_sealed IS NOT NULL")
            for row in rows {
                let id: String = row["id"]
                let resealed = try transform(id, row["secret_sealed"])
                try db.execute(sql: "UPDATE api_keys SET secret_sealed = ? WHERE id = ?", arguments: [resealed, id])
            }
            let seeds = try Row.fetchAll(db, sql: "SELECT account_id, secret_sealed FROM mfa_totp")
            for row in seeds {
                let accountID: String = row["account_id"]
                let resealed = try transform(SealedSecretBinding.totpSeed(accountID: accountID), row["secret_sealed"])
                try db.execute(sql: "UPDATE mfa_totp SET secret_sealed = ? WHERE account_id = ?", arguments: [resealed, accountID])
            }
            // Token-signing keys (Store+OAuth): bound to "oauth-signing:" + kid.
            let signing = try Row.fetchAll(db, sql: "SELECT kid, sealed_private_key FROM oauth_signing_keys")
            for row in signing {
                let kid: String = row["kid"]
                let resealed = try transform(SealedSecretBinding.signingKey(kid: kid), row["sealed_private_key"])
                try db.execute(sql: "UPDATE oauth_signing_keys SET sealed_private_key = ? WHERE kid = ?", arguments: [resealed, kid])
            }
            return rows.count + seeds.count + signing.count
        }
    }

    /// The associated data a TOTP seed is sealed with: a seed copied to another account does not open.

    /// Sets when a key stops working (rotation overlap).
    public func setKeyExpiry(id: String, expiresMs: Int64) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE api_keys SET expires_ms = ? WHERE id = ?", arguments: [expiresMs, id])
            guard db.changesCount == 1 else { throw StoreError.notFound("key \(id)") }
        }
    }

    /// Locks a key after repeated failed logins (no-op for an unknown id).
    public func lockKey(id: String, untilMs: Int64) throws {
        try pool.write { db in try db.execute(sql: "UPDATE api_keys SET locked_until_ms = ? WHERE id = ?", arguments: [untilMs, id]) }
    }

    /// An operator's unlock; recorded so running servers forget the key's failed logins too.
    public func unlockKey(id: String, nowMs: Int64) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE api_keys SET locked_until_ms = NULL WHERE id = ?", arguments: [id])
            guard db.changesCount == 1 else { throw StoreError.notFound("key \(id)") }
            try Self.appendChange(db, kind: .keyUnlocked, subject: id, nowMs: nowMs)
        }
    }

    /// Records a successful login (shown by `keys show` as last used).
    public func recordKeyUse(id: String, nowMs: Int64) throws {
        try pool.write { db in try db.execute(sql: "UPDATE api_keys SET last_used_ms = ? WHERE id = ?", arguments: [nowMs, id]) }
    }

    /// Disables or re-enables an account; disabling is recorded for running servers (sessions end).
    public func setAccountStatus(id: String, _ status: AccountStatus, nowMs: Int64) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE accounts SET status = ? WHERE id = ?", arguments: [status.rawValue, id])
            guard db.changesCount == 1 else { throw StoreError.notFound("account \(id)") }
            if status == .disabled { try Self.appendChange(db, kind: .accountDisabled, subject: id, nowMs: nowMs) }
        }
    }

    private static func key(_ row: Row) -> APIKeyRecord {
        let blob: [UInt8] = (row["public_key"] as Data?).map(Array.init) ?? []
        return APIKeyRecord(
            id: row["id"], accountID: row["account_id"],
            algorithm: KeyAlgorithm(rawValue: row["algorithm"]) ?? .hmacSHA256, publicKey: blob,
            scopes: Scope.parseList(row["scopes"]) ?? [], label: row["label"],
            status: KeyStatus(rawValue: row["status"]) ?? .revoked, createdMs: row["created_ms"],
            expiresMs: row["expires_ms"], clientCertificatePin: row["client_cert_sha256"],
            restrictions: KeyRestrictions(
                ipAllowlist: (row["ip_allowlist"] as String? ?? "").split(separator: ",").compactMap { IPNetwork(String($0)) },
                instruments: (row["instrument_allowlist"] as String?).map { Set($0.split(separator: ",").map(String.init)) },
                maxOrderNotional: (row["max_order_notional"] as String?).flatMap { FixedDecimal(parsing: $0) }),
            lastUsedMs: row["last_used_ms"], lockedUntilMs: row["locked_until_ms"], sealedSecret: row["secret_sealed"],
            sealedPolicy: SealedFramePolicy(rawValue: row["sealed_policy"]) ?? .aead)
    }

    // MARK: Deposits

    public func deposit(accountID: String, asset: String, amount: FixedDecimal, nowMs: Int64) throws {
        try Deposit.checkAmount(amount)
        try pool.write { db in
            guard try Row.fetchOne(db, sql: "SELECT id FROM accounts WHERE id = ?", arguments: [accountID]) != nil else {
                throw StoreError.notFound("account \(accountID)")
            }
            try db.execute(
                sql: "INSERT INTO deposits (account_id, asset, amount, created_ms) VALUES (?, ?, ?, ?)",
                arguments: [accountID, asset, amount.description, nowMs])
            try Self.appendChange(db, kind: .deposit, subject: String(db.lastInsertedRowID), nowMs: nowMs)
        }
    }

    public func deposits(afterID: Int64) throws -> [Deposit] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM deposits WHERE id > ? ORDER BY id", arguments: [afterID]).compactMap(Self.deposit)
        }
    }

    public func deposit(id: Int64) throws -> Deposit? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM deposits WHERE id = ?", arguments: [id]).flatMap(Self.deposit)
        }
    }

    private static func deposit(_ row: Row) -> Deposit? {
        guard let amount = FixedDecimal(parsing: row["amount"]) else { return nil }
        return Deposit(id: row["id"], accountID: row["account_id"], asset: row["asset"], amount: amount)
    }

    // MARK: Change feed

    static func appendChange(_ db: Database, kind: ChangeEvent.Kind, subject: String, nowMs: Int64) throws {
        try db.execute(
            sql: "INSERT INTO change_feed (kind, subject, created_ms) VALUES (?, ?, ?)",
            arguments: [kind.rawValue, subject, nowMs])
    }

    public func changes(afterSeq: Int64, limit: Int) throws -> [ChangeEvent] {
        try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM change_feed WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [afterSeq, limit]
            ).compactMap { row in
                guard let kind = ChangeEvent.Kind(rawValue: row["kind"]) else { return nil }
                return ChangeEvent(seq: row["seq"], kind: kind, subject: row["subject"])
            }
        }
    }

    public func latestChangeSeq() throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM change_feed") ?? 0 }
    }

    // MARK: Settings

    public func setting(_ key: String) throws -> String? {
        try pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = ?", arguments: [key]) }
    }

    public func setSetting(_ key: String, _ value: String) throws {
        try pool.write { db in
            try db.execute(
                sql: "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                arguments: [key, value])
        }
    }

    /// Cheap liveness probe for readiness checks.
    public func ping() -> Bool { (try? pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1 }
}
