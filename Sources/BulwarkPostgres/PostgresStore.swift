import BulwarkCore
import BulwarkStore
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO

/// The PostgreSQL store: several gateway nodes share one database (docs/architecture.md).
///
/// Same contract and semantics as `SQLiteStore` (the contract tests run against both). What
/// differs because several writers run at once:
///
/// - **Change feed**: every transaction that appends to `change_feed` first takes the
///   transaction-level advisory lock `Locks.changeFeed`, so `seq` values commit in `seq` order (a
///   follower reading `seq > cursor` never skips a row that commits later with a smaller seq), and
///   the check-then-write steps those transactions do (an active kill switch, a live session) see
///   each other as SQLite's single writer would. Each appended change also sends
///   `NOTIFY bulwark_changes, '<seq>'`, delivered at commit (`changeNotifications()`).
/// - **Audit chain**: `appendAudit` takes `Locks.audit` (`pg_advisory_xact_lock`) before reading
///   the tail, so appends from every node form one linear chain; `seq` is also the primary key,
///   so a bug there would fail loudly instead of forking the chain.
/// - **Single-use values** (`acceptTOTPCounter`, `markRefreshTokenUsed`, `spendRecoveryCode`) are
///   conditional `UPDATE ... WHERE <still unused>`: PostgreSQL re-checks the condition after
///   waiting for a concurrent writer's row lock, so exactly one caller wins across nodes.
/// - **Sessions** carry the `node_id` given to the initialiser; `endOrphanedSessions` closes only
///   this node's.
///
/// Calls are synchronous (see `ConnectionPool` for the bridge): each checks out a pooled
/// connection, runs with a deadline of `timeout`, and fails with `StoreError.unavailable` when
/// PostgreSQL does not answer in time.
public final class PostgresStore: Store, ChangeNotifier, @unchecked Sendable {
    /// Advisory-lock keys (one 64-bit namespace per database; "BULW" in the high bits).
    enum Locks {
        static let migrations: Int64 = 0x4255_4C57_0000_0001
        static let changeFeed: Int64 = 0x4255_4C57_0000_0002
        static let audit: Int64 = 0x4255_4C57_0000_0003
    }

    /// The LISTEN/NOTIFY channel of the change feed.
    public static let notificationChannel = "bulwark_changes"

    public let nodeID: String
    public let url: PostgresURL
    let pool: ConnectionPool
    let timeout: TimeAmount
    let health = NIOLockedValueBox(Health())

    /// Connects, and migrates the schema (one transaction under an advisory lock, so nodes
    /// starting together don't race). Throws `StoreError.unavailable` if PostgreSQL does not answer
    /// within `timeout`.
    ///
    /// - Parameters:
    ///   - url: `postgres://user:pass@host:port/db?sslmode=…` (see `PostgresURL`).
    ///   - nodeID: this gateway node's stable name (sessions it opens are tagged with it).
    ///   - poolSize: connections kept open at most (each call holds one for its duration).
    ///   - timeout: the deadline of every call, and of a connection attempt; also the server's
    ///     `statement_timeout` and `lock_timeout` for the store's connections.
    ///   - migrationTimeout: the deadline of the start-up migration (waiting for another node's
    ///     migration included).
    ///   - eventLoopGroup: a group to run PostgresNIO on; by default the store makes its own
    ///     two-thread group (never pass the group of a server whose threads call the store).
    public init(
        url: String, nodeID: String, poolSize: Int = 4, timeout: TimeAmount = .seconds(5), migrationTimeout: TimeAmount = .seconds(120),
        eventLoopGroup: (any EventLoopGroup)? = nil,
        logger: Logger = Logger(label: "bulwark.postgres")
    ) throws {
        self.url = try PostgresURL(url)
        self.nodeID = nodeID
        self.timeout = timeout
        self.pool = try ConnectionPool(url: self.url, size: poolSize, timeout: timeout, group: eventLoopGroup, logger: logger)
        do {
            try migrate(timeout: migrationTimeout)
        } catch {
            pool.shutdown()
            throw error
        }
    }

    deinit { pool.shutdown() }

    /// Closes the pool's connections (the listeners of `changeNotifications()` end with their
    /// consumers). Further calls fail with `.unavailable`.
    public func shutdown() { pool.shutdown() }

    // MARK: Plumbing

    /// One statement outside a transaction (autocommit). The whole call, waiting for a free
    /// connection included, ends by `timeout` (or `deadline`).
    func withConnection<T>(deadline: NIODeadline? = nil, _ body: (PGConnection) throws -> T) throws -> T {
        pool.preconditionCallerMayBlock()
        let deadline = deadline ?? NIODeadline.now() + timeout
        let connection = PGConnection(connection: try pool.checkout(deadline: deadline), pool: pool, deadline: deadline)
        defer { pool.checkin(connection.connection, broken: connection.broken) }
        do {
            return try body(connection)
        } catch let error as PSQLError {
            throw ConnectionPool.map(error, url: url)
        } catch let error as PostgresDecodingError {
            throw StoreError.unavailable("unexpected column value from PostgreSQL: \(error.code) in \(error.columnName)")
        }
    }

    /// `body` in one transaction (BEGIN … COMMIT, ROLLBACK on any error) on one connection.
    /// `lock` takes that transaction-level advisory lock first.
    func transaction<T>(lock: Int64? = nil, deadline: NIODeadline? = nil, _ body: (PGConnection) throws -> T) throws -> T {
        try withConnection(deadline: deadline) { connection in
            try connection.execute("BEGIN")
            do {
                if let lock { try connection.execute("SELECT pg_advisory_xact_lock($1)", [.int(lock)]) }
                let value = try body(connection)
                try connection.execute("COMMIT")
                return value
            } catch {
                if !connection.broken {
                    do { try connection.execute("ROLLBACK") } catch { connection.broken = true }
                }
                throw error
            }
        }
    }

    /// A transaction that may append to the change feed (see the type's documentation).
    func changeTransaction<T>(_ body: (PGConnection) throws -> T) throws -> T {
        try transaction(lock: Locks.changeFeed, body)
    }

    /// Appends a change and its notification; only inside `changeTransaction`.
    static func appendChange(_ db: PGConnection, kind: ChangeEvent.Kind, subject: String, nowMs: Int64) throws {
        guard
            let row = try db.row(
                "INSERT INTO change_feed (kind, subject, created_ms) VALUES ($1, $2, $3) RETURNING seq", [.text(kind.rawValue), .text(subject), .int(nowMs)])
        else { throw StoreError.unavailable("change_feed insert returned no seq") }
        let seq = try row.int64("seq")
        try db.execute("SELECT pg_notify($1, $2)", [.text(notificationChannel), .text(String(seq))])
    }

    // MARK: Migrations

    /// Applies the migrations this database lacks, in one transaction under an advisory lock: a
    /// node that starts while another migrates waits, then finds nothing left to do. Migrations
    /// may take longer than a call (`migrationTimeout`), so the server-side statement timeout is
    /// lifted for this transaction.
    private func migrate(timeout migrationTimeout: TimeAmount) throws {
        try transaction(lock: nil, deadline: .now() + migrationTimeout) { db in
            try db.execute("SET LOCAL statement_timeout = 0")
            try db.execute("SET LOCAL lock_timeout = 0")
            try db.execute("SELECT pg_advisory_xact_lock($1)", [.int(Locks.migrations)])
            try db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY NOT NULL, applied_ms BIGINT NOT NULL)")
            let applied = Set(try db.rows("SELECT name FROM schema_migrations").map { try $0.text("name") })
            for migration in Schema.migrations where !applied.contains(migration.name) {
                for statement in migration.sql(for: .postgres) { try db.execute(statement) }
                try db.execute(
                    "INSERT INTO schema_migrations (name, applied_ms) VALUES ($1, $2)",
                    [.text(migration.name), .int(Int64(Date().timeIntervalSince1970 * 1000))])
            }
        }
    }

    // MARK: Accounts

    public func createAccount(name: String, nowMs: Int64) throws -> AccountRecord {
        let record = AccountRecord(id: Identifier.random(prefix: "a", bytes: 12), name: name, status: .enabled, createdMs: nowMs)
        do {
            try withConnection { db in
                try db.execute(
                    "INSERT INTO accounts (id, name, status, created_ms) VALUES ($1, $2, $3, $4)",
                    [.text(record.id), .text(record.name), .text(record.status.rawValue), .int(record.createdMs)])
            }
        } catch StoreError.conflict(_) {
            throw StoreError.conflict("account named \(name)")
        }
        return record
    }

    public func account(id: String) throws -> AccountRecord? {
        try withConnection { db in try db.row("SELECT * FROM accounts WHERE id = $1", [.text(id)]).map(Self.account) }
    }

    public func account(named name: String) throws -> AccountRecord? {
        try withConnection { db in try db.row("SELECT * FROM accounts WHERE name = $1", [.text(name)]).map(Self.account) }
    }

    public func accounts() throws -> [AccountRecord] {
        try withConnection { db in try db.rows(#"SELECT * FROM accounts ORDER BY created_ms, id COLLATE "C""#).map(Self.account) }
    }

    private static func account(_ row: PostgresRandomAccessRow) throws -> AccountRecord {
        AccountRecord(
            id: try row.text("id"), name: try row.text("name"), status: AccountStatus(rawValue: try row.text("status")) ?? .disabled,
            createdMs: try row.int64("created_ms"))
    }

    public func setAccountStatus(id: String, _ status: AccountStatus, nowMs: Int64) throws {
        try changeTransaction { db in
            guard try db.execute("UPDATE accounts SET status = $1 WHERE id = $2", [.text(status.rawValue), .text(id)]) == 1 else {
                throw StoreError.notFound("account \(id)")
            }
            if status == .disabled { try Self.appendChange(db, kind: .accountDisabled, subject: id, nowMs: nowMs) }
        }
    }

    // MARK: API keys

    public func insertKey(_ record: APIKeyRecord) throws {
        try withConnection { db in
            try db.execute(
                """
                INSERT INTO api_keys (id, account_id, algorithm, public_key, scopes, label, status, created_ms, expires_ms,
                    client_cert_sha256, ip_allowlist, instrument_allowlist, max_order_notional, secret_sealed, sealed_policy)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                """,
                [
                    .text(record.id), .text(record.accountID), .text(record.algorithm.rawValue), .bytes(Data(record.publicKey)),
                    .text(Scope.render(record.scopes)), .text(record.label), .text(record.status.rawValue), .int(record.createdMs),
                    .int(record.expiresMs), .text(record.clientCertificatePin),
                    .text(record.restrictions.ipAllowlist.map(\.description).joined(separator: ",")),
                    .text(record.restrictions.instruments.map { $0.sorted().joined(separator: ",") }),
                    .text(record.restrictions.maxOrderNotional?.description), .text(record.sealedSecret), .text(record.sealedPolicy.rawValue),
                ])
        }
    }

    public func apiKey(id: String) throws -> APIKeyRecord? {
        try withConnection { db in try db.row("SELECT * FROM api_keys WHERE id = $1", [.text(id)]).map(Self.key) }
    }

    public func keys(accountID: String?) throws -> [APIKeyRecord] {
        try withConnection { db in
            if let accountID {
                return try db.rows(#"SELECT * FROM api_keys WHERE account_id = $1 ORDER BY created_ms, id COLLATE "C""#, [.text(accountID)])
                    .map(Self.key)
            }
            return try db.rows(#"SELECT * FROM api_keys ORDER BY created_ms, id COLLATE "C""#).map(Self.key)
        }
    }

    public func revokeKey(id: String, nowMs: Int64) throws {
        try changeTransaction { db in
            guard
                try db.execute(
                    "UPDATE api_keys SET status = 'revoked', revoked_ms = COALESCE(revoked_ms, $1) WHERE id = $2", [.int(nowMs), .text(id)]) == 1
            else { throw StoreError.notFound("key \(id)") }
            try Self.appendChange(db, kind: .keyRevoked, subject: id, nowMs: nowMs)
        }
    }

    public func resealSecrets(_ transform: (_ binding: String, _ sealed: String) throws -> String) throws -> Int {
        try transaction { db in
            // FOR UPDATE: a concurrent writer of the same rows waits for this re-seal to finish.
            let rows = try db.rows("SELECT id, secret_sealed FROM api_keys WHERE secret_sealed IS NOT NULL FOR UPDATE")
            for row in rows {
                let id = try row.text("id")
                let resealed = try transform(id, try row.text("secret_sealed"))
                try db.execute("UPDATE api_keys SET secret_sealed = $1 WHERE id = $2", [.text(resealed), .text(id)])
            }
            let seeds = try db.rows("SELECT account_id, secret_sealed FROM mfa_totp FOR UPDATE")
            for row in seeds {
                let accountID = try row.text("account_id")
                let resealed = try transform(SealedSecretBinding.totpSeed(accountID: accountID), try row.text("secret_sealed"))
                try db.execute("UPDATE mfa_totp SET secret_sealed = $1 WHERE account_id = $2", [.text(resealed), .text(accountID)])
            }
            let signing = try db.rows("SELECT kid, sealed_private_key FROM oauth_signing_keys FOR UPDATE")
            for row in signing {
                let kid = try row.text("kid")
                let resealed = try transform(SealedSecretBinding.signingKey(kid: kid), try row.text("sealed_private_key"))
                try db.execute("UPDATE oauth_signing_keys SET sealed_private_key = $1 WHERE kid = $2", [.text(resealed), .text(kid)])
            }
            return rows.count + seeds.count + signing.count
        }
    }

    public func setKeyExpiry(id: String, expiresMs: Int64) throws {
        try withConnection { db in
            guard try db.execute("UPDATE api_keys SET expires_ms = $1 WHERE id = $2", [.int(expiresMs), .text(id)]) == 1 else {
                throw StoreError.notFound("key \(id)")
            }
        }
    }

    public func lockKey(id: String, untilMs: Int64) throws {
        try withConnection { db in try db.execute("UPDATE api_keys SET locked_until_ms = $1 WHERE id = $2", [.int(untilMs), .text(id)]) }
    }

    public func unlockKey(id: String, nowMs: Int64) throws {
        try changeTransaction { db in
            guard try db.execute("UPDATE api_keys SET locked_until_ms = NULL WHERE id = $1", [.text(id)]) == 1 else {
                throw StoreError.notFound("key \(id)")
            }
            try Self.appendChange(db, kind: .keyUnlocked, subject: id, nowMs: nowMs)
        }
    }

    public func recordKeyUse(id: String, nowMs: Int64) throws {
        try withConnection { db in try db.execute("UPDATE api_keys SET last_used_ms = $1 WHERE id = $2", [.int(nowMs), .text(id)]) }
    }

    private static func key(_ row: PostgresRandomAccessRow) throws -> APIKeyRecord {
        APIKeyRecord(
            id: try row.text("id"), accountID: try row.text("account_id"),
            algorithm: KeyAlgorithm(rawValue: try row.text("algorithm")) ?? .hmacSHA256, publicKey: try row.bytes("public_key") ?? [],
            scopes: Scope.parseList(try row.text("scopes")) ?? [], label: try row.text("label"),
            status: KeyStatus(rawValue: try row.text("status")) ?? .revoked, createdMs: try row.int64("created_ms"),
            expiresMs: try row.optionalInt64("expires_ms"), clientCertificatePin: try row.optionalText("client_cert_sha256"),
            restrictions: KeyRestrictions(
                ipAllowlist: (try row.optionalText("ip_allowlist") ?? "").split(separator: ",").compactMap { IPNetwork(String($0)) },
                instruments: try row.optionalText("instrument_allowlist").map { Set($0.split(separator: ",").map(String.init)) },
                maxOrderNotional: try row.optionalText("max_order_notional").flatMap { FixedDecimal(parsing: $0) }),
            lastUsedMs: try row.optionalInt64("last_used_ms"), lockedUntilMs: try row.optionalInt64("locked_until_ms"),
            sealedSecret: try row.optionalText("secret_sealed"),
            sealedPolicy: SealedFramePolicy(rawValue: try row.text("sealed_policy")) ?? .aead)
    }

    // MARK: Deposits

    public func deposit(accountID: String, asset: String, amount: FixedDecimal, nowMs: Int64) throws {
        try Deposit.checkAmount(amount)
        try changeTransaction { db in
            guard try db.row("SELECT id FROM accounts WHERE id = $1", [.text(accountID)]) != nil else {
                throw StoreError.notFound("account \(accountID)")
            }
            guard
                let row = try db.row(
                    "INSERT INTO deposits (account_id, asset, amount, created_ms) VALUES ($1, $2, $3, $4) RETURNING id",
                    [.text(accountID), .text(asset), .text(amount.description), .int(nowMs)])
            else { throw StoreError.unavailable("deposit insert returned no id") }
            try Self.appendChange(db, kind: .deposit, subject: String(try row.int64("id")), nowMs: nowMs)
        }
    }

    public func deposits(afterID: Int64) throws -> [Deposit] {
        try withConnection { db in
            try db.rows("SELECT * FROM deposits WHERE id > $1 ORDER BY id", [.int(afterID)]).compactMap(Self.deposit)
        }
    }

    public func deposit(id: Int64) throws -> Deposit? {
        try withConnection { db in try db.row("SELECT * FROM deposits WHERE id = $1", [.int(id)]).flatMap(Self.deposit) }
    }

    private static func deposit(_ row: PostgresRandomAccessRow) throws -> Deposit? {
        guard let amount = FixedDecimal(parsing: try row.text("amount")) else { return nil }
        return Deposit(id: try row.int64("id"), accountID: try row.text("account_id"), asset: try row.text("asset"), amount: amount)
    }

    // MARK: Change feed

    public func changes(afterSeq: Int64, limit: Int) throws -> [ChangeEvent] {
        try withConnection { db in
            try db.rows("SELECT * FROM change_feed WHERE seq > $1 ORDER BY seq LIMIT $2", [.int(afterSeq), .int(limit)]).compactMap { row in
                guard let kind = ChangeEvent.Kind(rawValue: try row.text("kind")) else { return nil }
                return ChangeEvent(seq: try row.int64("seq"), kind: kind, subject: try row.text("subject"))
            }
        }
    }

    public func latestChangeSeq() throws -> Int64 {
        try withConnection { db in try db.row("SELECT COALESCE(MAX(seq), 0) AS seq FROM change_feed")?.int64("seq") ?? 0 }
    }

    // MARK: Settings

    public func setting(_ key: String) throws -> String? {
        try withConnection { db in try db.row("SELECT value FROM settings WHERE key = $1", [.text(key)])?.text("value") }
    }

    public func setSetting(_ key: String, _ value: String) throws {
        try withConnection { db in
            try db.execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [.text(key), .text(value)])
        }
    }

    /// True while PostgreSQL answers. From a task: one round trip on a pooled connection. From
    /// an event loop (the gateway's `/readyz` handler runs on one) it never blocks: it answers the
    /// latest probe's result and starts a new probe in the background, at most one a second.
    public func ping() -> Bool {
        if MultiThreadedEventLoopGroup.currentEventLoop != nil {
            probeInBackground()
            return health.withLockedValue { $0.healthy }
        }
        let healthy = (try? withConnection { db in try db.row("SELECT 1 AS one")?.int64("one") }) == 1
        health.withLockedValue { $0.healthy = healthy }
        return healthy
    }

    struct Health {
        var healthy = true
        var probing = false
        var lastProbe = NIODeadline.distantPast
    }

    private func probeInBackground() {
        let start = health.withLockedValue { state -> Bool in
            guard !state.probing, state.lastProbe + .seconds(1) < .now() else { return false }
            state.probing = true
            state.lastProbe = .now()
            return true
        }
        guard start, !pool.isShutDown else { return }
        let health = self.health
        let logger = pool.logger
        let timeout = self.timeout
        let connecting = pool.connect()
        let result = connecting.flatMap { connection in
            connection.query(PostgresQuery(unsafeSQL: "SELECT 1"), logger: logger).map { _ in () }
                .always { _ in ConnectionPool.close(connection) }
        }
        let timer = result.eventLoop.scheduleTask(in: timeout) {
            // No answer in time (a silent server): unhealthy now, whatever arrives later.
            connecting.whenSuccess { ConnectionPool.close($0) }
            health.withLockedValue { state in
                state.probing = false
                state.healthy = false
            }
        }
        result.whenComplete { outcome in
            timer.cancel()
            health.withLockedValue { state in
                state.probing = false
                if case .success = outcome { state.healthy = true } else { state.healthy = false }
            }
        }
    }
}
