import BulwarkCore
import GRDB

/// A ban as stored: the latest one of its subject.
public struct BanRecord: Sendable, Equatable {
    public let subject: String
    public let sinceMs: Int64
    public let untilMs: Int64
    public let level: Int
    public let reason: String
    public let liftedMs: Int64?

    public init(subject: String, sinceMs: Int64, untilMs: Int64, level: Int, reason: String, liftedMs: Int64? = nil) {
        self.subject = subject
        self.sinceMs = sinceMs
        self.untilMs = untilMs
        self.level = level
        self.reason = reason
        self.liftedMs = liftedMs
    }

    public func isActive(atMs now: Int64) -> Bool { liftedMs == nil && now < untilMs }
}

/// Account tiers and bans (docs/rate-limits.md).
extension SQLiteStore {
    public func accountTier(id: String) throws -> AccountTier? {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT tier FROM accounts WHERE id = ?", arguments: [id]).map { AccountTier(rawValue: $0) ?? .standard }
        }
    }

    /// Sets the tier and tells running gateways (change feed).
    public func setAccountTier(id: String, _ tier: AccountTier, nowMs: Int64) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE accounts SET tier = ? WHERE id = ?", arguments: [tier.rawValue, id])
            guard db.changesCount == 1 else { throw StoreError.notFound("account \(id)") }
            try Self.appendChange(db, kind: .accountTierChanged, subject: id, nowMs: nowMs)
        }
    }

    /// Records a ban the gateway imposed (replacing the subject's previous one) and tells the other
    /// gateways following the same database.
    public func recordBan(_ ban: BanRecord) throws {
        try pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO bans (subject, since_ms, until_ms, level, reason, lifted_ms) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [ban.subject, ban.sinceMs, ban.untilMs, ban.level, ban.reason, ban.liftedMs])
            try Self.appendChange(db, kind: .banImposed, subject: ban.subject, nowMs: ban.sinceMs)
        }
    }

    /// Bans in force at `nowMs`, soonest to end first.
    public func activeBans(nowMs: Int64) throws -> [BanRecord] {
        try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM bans WHERE lifted_ms IS NULL AND until_ms > ? ORDER BY until_ms, subject", arguments: [nowMs]
            ).map(Self.ban)
        }
    }

    /// Lifts the subject's ban and tells running gateways; `notFound` when none is in force.
    public func liftBan(subject: String, nowMs: Int64, notify: Bool) throws {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE bans SET lifted_ms = ? WHERE subject = ? AND lifted_ms IS NULL AND until_ms > ?", arguments: [nowMs, subject, nowMs])
            guard db.changesCount == 1 else { throw StoreError.notFound("ban of \(subject)") }
            if notify { try Self.appendChange(db, kind: .banLifted, subject: subject, nowMs: nowMs) }
        }
    }

    private static func ban(_ row: Row) -> BanRecord {
        BanRecord(
            subject: row["subject"], sinceMs: row["since_ms"], untilMs: row["until_ms"], level: row["level"], reason: row["reason"],
            liftedMs: row["lifted_ms"])
    }
}
