import BulwarkCore
import BulwarkStore
import Foundation
import GRDB
import Testing

/// The one schema definition (`Schema.migrations`) against what earlier releases built.
@Suite struct SchemaCompatibilityTests {
    func temporaryPath() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("db.sqlite").path
    }

    /// Every table's columns (name, type, not null, default, primary-key position), indexes and
    /// foreign keys.
    func shape(_ path: String, excluding: Set<String> = []) throws -> [String] {
        let queue = try DatabaseQueue(path: path)
        return try queue.read { db in
            var lines: [String] = []
            let tables = try String.fetchAll(
                db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations' ORDER BY name")
            for table in tables {
                for row in try Row.fetchAll(db, sql: "PRAGMA table_info(\(table))") {
                    let name: String = row["name"]
                    guard !excluding.contains("\(table).\(name)") else { continue }
                    lines.append("\(table).\(name) \(row["type"] as String) notnull=\(row["notnull"] as Int) default=\(row["dflt_value"] as String? ?? "-") pk=\(row["pk"] as Int)")
                }
                for row in try Row.fetchAll(db, sql: "PRAGMA foreign_key_list(\(table))") {
                    lines.append("\(table) fk \(row["from"] as String) -> \(row["table"] as String).\(row["to"] as String? ?? "?")")
                }
                for row in try Row.fetchAll(db, sql: "PRAGMA index_list(\(table))") {
                    let index: String = row["name"]
                    guard !excluding.contains(index) else { continue }
                    let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_index_info(?)", arguments: [index])
                    lines.append("\(table) index unique=\(row["unique"] as Int) \(columns.joined(separator: ","))")
                }
            }
            return lines.sorted()
        }
    }

    @Test func aNewDatabaseHasTheSameShapeAsOneBuiltByEarlierReleases() throws {
        let legacyPath = try temporaryPath()
        try LegacySchema.migrator.migrate(try DatabaseQueue(path: legacyPath))
        let newPath = try temporaryPath()
        _ = try SQLiteStore(path: newPath)
        // v12 (the session's node), v13 (cluster tables) and v14 (a session's subscriptions) are
        // new; everything before them must match column for column.
        let new = try shape(newPath, excluding: ["sessions.node_id", "sessions_live", "sessions.subscriptions"])
            .filter { !$0.hasPrefix("rate_counters") && !$0.hasPrefix("cluster_nodes") }
        let legacy = try shape(legacyPath)
        #expect(new == legacy)
        #expect(!legacy.isEmpty)
    }

    @Test func aDataFolderFromAnEarlierReleaseOpensAndUpgrades() throws {
        let path = try temporaryPath()
        let queue = try DatabaseQueue(path: path)
        try LegacySchema.migrator.migrate(queue)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO accounts (id, name, status, created_ms) VALUES ('a_old', 'old', 'enabled', 1)")
            try db.execute(
                sql: """
                    INSERT INTO sessions (id, account_id, credential_id, auth_method, scopes, client_ip, network, created_ms,
                        last_activity_ms, idle_timeout_ms, absolute_deadline_ms) VALUES ('s_old', 'a_old', 'k', 'signature', 'read', '203.0.113.9',
                        '203.0.113.0/24', 1, 1, 1000, 10000)
                    """)
        }
        try queue.close()
        let store = try SQLiteStore(path: path)
        #expect(try store.account(id: "a_old")?.name == "old")
        #expect(try store.liveSessionCount(accountID: "a_old") == 1)
        let migrations = try DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(Set(migrations) == Set(Schema.migrations.map(\.name)))
    }

    @Test func thePostgresDialectSpellsTheDifferencesAndNothingElse() {
        for migration in Schema.migrations {
            for (sqlite, postgres) in zip(migration.sql(for: .sqlite), migration.sql(for: .postgres)) {
                #expect(!sqlite.contains("{") && !postgres.contains("{"), "\(migration.name): a placeholder is left")
                #expect(!postgres.contains("AUTOINCREMENT") && !postgres.contains("BLOB") && !postgres.contains("INTEGER"))
                #expect(
                    sqlite.replacingOccurrences(of: "INTEGER PRIMARY KEY AUTOINCREMENT", with: "").replacingOccurrences(of: "INTEGER", with: "")
                        .replacingOccurrences(of: "BLOB", with: "").replacingOccurrences(of: "DOUBLE", with: "")
                        == postgres.replacingOccurrences(of: "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", with: "")
                        .replacingOccurrences(of: "BIGINT", with: "").replacingOccurrences(of: "BYTEA", with: "")
                        .replacingOccurrences(of: "DOUBLE PRECISION", with: ""))
            }
        }
    }
}

/// The SQLite schema as GRDB's table builder defined it up to v11, frozen here as a fixture: data
/// folders created by earlier releases were built by exactly this.
enum LegacySchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-accounts-keys") { db in
            try db.create(table: "accounts") { t in
                t.primaryKey("id", .text)
                t.column("name", .text).notNull().unique()
                t.column("status", .text).notNull()
                t.column("created_ms", .integer).notNull()
            }
            try db.create(table: "api_keys") { t in
                t.primaryKey("id", .text)
                t.column("account_id", .text).notNull().references("accounts")
                t.column("algorithm", .text).notNull()
                t.column("public_key", .blob).notNull()
                t.column("scopes", .text).notNull()
                t.column("label", .text).notNull().defaults(to: "")
                t.column("status", .text).notNull()
                t.column("created_ms", .integer).notNull()
                t.column("expires_ms", .integer)
                t.column("revoked_ms", .integer)
            }
            try db.create(index: "api_keys_account", on: "api_keys", columns: ["account_id"])
            // Funding is recorded as an append-only ledger of deposits; the venue credits them.
            try db.create(table: "deposits") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("account_id", .text).notNull().references("accounts")
                t.column("asset", .text).notNull()
                t.column("amount", .text).notNull()
                t.column("created_ms", .integer).notNull()
            }
            // Changes made by another process (the CLI) that a running server must apply:
            // the server tails this table by `seq`.
            try db.create(table: "change_feed") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("kind", .text).notNull()
                t.column("subject", .text).notNull()
                t.column("created_ms", .integer).notNull()
            }
            try db.create(table: "settings") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
            }
        }
        migrator.registerMigration("v2-key-client-certificate-pin") { db in
            try db.alter(table: "api_keys") { t in t.add(column: "client_cert_sha256", .text) }
        }
        migrator.registerMigration("v3-key-restrictions") { db in
            try db.alter(table: "api_keys") { t in
                t.add(column: "ip_allowlist", .text).notNull().defaults(to: "")
                t.add(column: "instrument_allowlist", .text)
                t.add(column: "max_order_notional", .text)
                t.add(column: "last_used_ms", .integer)
            }
        }
        migrator.registerMigration("v4-key-lockout") { db in
            try db.alter(table: "api_keys") { t in t.add(column: "locked_until_ms", .integer) }
        }
        migrator.registerMigration("v5-sealed-secrets") { db in
            try db.alter(table: "api_keys") { t in t.add(column: "secret_sealed", .text) }
        }
        migrator.registerMigration("v6-sealed-frame-policy") { db in
            try db.alter(table: "api_keys") { t in t.add(column: "sealed_policy", .text).notNull().defaults(to: "none") }
        }
        migrator.registerMigration("v7-sessions") { db in
            // Session records outlive the process: operators list and audit them. The live state
            // (bound connections, timers) stays in memory; `ended_ms` is NULL while a session lives.
            try db.create(table: "sessions") { t in
                t.primaryKey("id", .text)
                t.column("account_id", .text).notNull()
                t.column("credential_id", .text).notNull()
                t.column("auth_method", .text).notNull()
                t.column("scopes", .text).notNull()
                t.column("client_ip", .text).notNull()
                t.column("network", .text).notNull()
                t.column("created_ms", .integer).notNull()
                t.column("last_activity_ms", .integer).notNull()
                t.column("idle_timeout_ms", .integer).notNull()
                t.column("absolute_deadline_ms", .integer).notNull()
                t.column("risk_score", .double).notNull().defaults(to: 0)
                t.column("risk_level", .text).notNull().defaults(to: "low")
                t.column("mfa_verified_ms", .integer)
                t.column("ended_ms", .integer)
                t.column("end_reason", .text)
            }
            try db.create(index: "sessions_account", on: "sessions", columns: ["account_id", "created_ms"])
            // Networks (/24, /48) and addresses each credential has logged in from: the risk engine's
            // "new network" and "new IP" signals.
            try db.create(table: "credential_networks") { t in
                t.column("credential_id", .text).notNull()
                t.column("network", .text).notNull()
                t.column("ip", .text).notNull()
                t.column("first_seen_ms", .integer).notNull()
                t.column("last_seen_ms", .integer).notNull()
                t.primaryKey(["credential_id", "network", "ip"])
            }
        }
        migrator.registerMigration("v8-mfa-totp") { db in
            // One TOTP factor per account. The seed is sealed with the master key (bound to the
            // account id); `last_counter` refuses a code's reuse; failures are counted for lockout.
            try db.create(table: "mfa_totp") { t in
                t.primaryKey("account_id", .text).references("accounts")
                t.column("secret_sealed", .text).notNull()
                t.column("algorithm", .text).notNull()
                t.column("digits", .integer).notNull()
                t.column("period_s", .integer).notNull()
                t.column("status", .text).notNull()
                t.column("last_counter", .integer)
                t.column("failures", .integer).notNull().defaults(to: 0)
                t.column("locked_until_ms", .integer)
                t.column("created_ms", .integer).notNull()
                t.column("confirmed_ms", .integer)
            }
            try db.create(table: "mfa_recovery_codes") { t in
                t.column("account_id", .text).notNull().references("accounts")
                t.column("code_hash", .text).notNull()
                t.column("used_ms", .integer)
                t.primaryKey(["account_id", "code_hash"])
            }
        }
        migrator.registerMigration("v9-rate-limit-tiers-and-bans") { db in
            // The account's rate-limit tier (docs/rate-limits.md); existing accounts are standard.
            try db.alter(table: "accounts") { t in t.add(column: "tier", .text).notNull().defaults(to: "standard") }
            // Temporary bans, written by the gateway that imposed them so that operators can list
            // and lift them from the CLI and a restart keeps them. One row per subject (`ip:…`,
            // `key:…`): the latest ban, with its escalation level.
            try db.create(table: "bans") { t in
                t.primaryKey("subject", .text)
                t.column("since_ms", .integer).notNull()
                t.column("until_ms", .integer).notNull()
                t.column("level", .integer).notNull()
                t.column("reason", .text).notNull()
                t.column("lifted_ms", .integer)
            }
        }
        migrator.registerMigration("v10-audit-incident-response") { db in
            // The hash-chained audit log: append-only (no code path updates or deletes a row).
            try db.create(table: "audit_log") { t in
                t.primaryKey("seq", .integer)
                t.column("ts_us", .integer).notNull()
                t.column("event", .text).notNull()
                t.column("actor", .text).notNull()
                t.column("credential", .text)
                t.column("session_hash", .text)
                t.column("ip", .text)
                t.column("outcome", .text).notNull()
                t.column("details", .text).notNull()
                t.column("prev_hash", .text).notNull()
                t.column("hash", .text).notNull()
            }
            // Kill switches: scope global (subject "*"), account or key. Released ones stay for history.
            try db.create(table: "kill_switches") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("scope", .text).notNull()
                t.column("subject", .text).notNull()
                t.column("reason", .text).notNull()
                t.column("engaged_by", .text).notNull()
                t.column("engaged_ms", .integer).notNull()
                t.column("released_ms", .integer)
                t.column("released_by", .text)
            }
            // Blocked client networks (CIDR), with an optional expiry.
            try db.create(table: "ip_blocks") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("cidr", .text).notNull()
                t.column("reason", .text).notNull()
                t.column("created_by", .text).notNull()
                t.column("created_ms", .integer).notNull()
                t.column("expires_ms", .integer)
                t.column("removed_ms", .integer)
            }
        }
        migrator.registerMigration("v11-oauth") { db in
            try db.create(table: "oauth_clients") { t in
                t.primaryKey("id", .text)
                t.column("account_id", .text).notNull().references("accounts")
                t.column("auth_method", .text).notNull()
                t.column("jwks", .text)
                t.column("secret_hash", .blob)
                t.column("scopes", .text).notNull()
                t.column("label", .text).notNull().defaults(to: "")
                t.column("created_ms", .integer).notNull()
                t.column("revoked_ms", .integer)
            }
            // Refresh tokens are stored by SHA-256 only; a family shares one absolute expiry.
            try db.create(table: "oauth_refresh_tokens") { t in
                t.primaryKey("hash", .text)
                t.column("family_id", .text).notNull()
                t.column("client_id", .text).notNull()
                t.column("account_id", .text).notNull()
                t.column("scopes", .text).notNull()
                t.column("jkt", .text)
                t.column("created_ms", .integer).notNull()
                t.column("family_expires_ms", .integer).notNull()
                t.column("used_ms", .integer)
                t.column("revoked_ms", .integer)
            }
            try db.create(index: "oauth_refresh_family", on: "oauth_refresh_tokens", columns: ["family_id"])
            try db.create(table: "oauth_access_tokens") { t in
                t.primaryKey("jti", .text)
                t.column("client_id", .text).notNull()
                t.column("family_id", .text)
                t.column("account_id", .text).notNull()
                t.column("expires_ms", .integer).notNull()
                t.column("revoked_ms", .integer)
            }
            try db.create(index: "oauth_access_family", on: "oauth_access_tokens", columns: ["family_id"])
            try db.create(index: "oauth_access_client", on: "oauth_access_tokens", columns: ["client_id"])
            // Token-signing keys, private halves sealed with the master key (bound to the kid).
            try db.create(table: "oauth_signing_keys") { t in
                t.primaryKey("kid", .text)
                t.column("algorithm", .text).notNull()
                t.column("sealed_private_key", .text).notNull()
                t.column("created_ms", .integer).notNull()
                t.column("retired_ms", .integer)
            }
        }
        return migrator
    }
}
