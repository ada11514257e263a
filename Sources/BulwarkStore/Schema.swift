import GRDB

/// The database schema as ordered, append-only migrations. A migration that has shipped is never
/// edited: a later change is a new migration, so every data folder upgrades the same way.
enum Schema {
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
        return migrator
    }
}
