import BulwarkCore
import GRDB

/// An engaged (or released) kill switch.
public struct KillSwitchRecord: Sendable, Equatable {
    public enum Scope: String, Sendable, CaseIterable {
        /// Every account: subject `*`.
        case global
        case account
        case key
    }

    public let id: Int64
    public let scope: Scope
    public let subject: String
    public let reason: String
    public let engagedBy: String
    public let engagedMs: Int64
    public let releasedMs: Int64?
    public let releasedBy: String?

    public var isActive: Bool { releasedMs == nil }

    public init(
        id: Int64, scope: Scope, subject: String, reason: String, engagedBy: String, engagedMs: Int64, releasedMs: Int64?, releasedBy: String?
    ) {
        self.id = id
        self.scope = scope
        self.subject = subject
        self.reason = reason
        self.engagedBy = engagedBy
        self.engagedMs = engagedMs
        self.releasedMs = releasedMs
        self.releasedBy = releasedBy
    }
}

/// A blocked client network.
public struct IPBlockRecord: Sendable, Equatable {
    public let id: Int64
    public let network: IPNetwork
    public let reason: String
    public let createdBy: String
    public let createdMs: Int64
    public let expiresMs: Int64?
    public let removedMs: Int64?

    public func isActive(atMs now: Int64) -> Bool { removedMs == nil && (expiresMs.map { $0 > now } ?? true) }

    public init(id: Int64, network: IPNetwork, reason: String, createdBy: String, createdMs: Int64, expiresMs: Int64?, removedMs: Int64?) {
        self.id = id
        self.network = network
        self.reason = reason
        self.createdBy = createdBy
        self.createdMs = createdMs
        self.expiresMs = expiresMs
        self.removedMs = removedMs
    }
}

extension SQLiteStore {
    // MARK: Kill switches

    /// Engages a kill switch (idempotent per scope and subject: an active one is returned as is).
    public func engageKillSwitch(scope: KillSwitchRecord.Scope, subject: String, reason: String, by actor: String, nowMs: Int64) throws -> KillSwitchRecord {
        try pool.write { db in
            if let existing = try Row.fetchOne(
                db, sql: "SELECT * FROM kill_switches WHERE scope = ? AND subject = ? AND released_ms IS NULL", arguments: [scope.rawValue, subject])
            {
                return Self.killSwitch(existing)
            }
            switch scope {
            case .global: break
            case .account:
                guard try Row.fetchOne(db, sql: "SELECT id FROM accounts WHERE id = ?", arguments: [subject]) != nil else {
                    throw StoreError.notFound("account \(subject)")
                }
            case .key:
                guard try Row.fetchOne(db, sql: "SELECT id FROM api_keys WHERE id = ?", arguments: [subject]) != nil else {
                    throw StoreError.notFound("key \(subject)")
                }
            }
            try db.execute(
                sql: "INSERT INTO kill_switches (scope, subject, reason, engaged_by, engaged_ms) VALUES (?, ?, ?, ?, ?)",
                arguments: [scope.rawValue, subject, reason, actor, nowMs])
            let id = db.lastInsertedRowID
            try Self.appendChange(db, kind: .killSwitch, subject: String(id), nowMs: nowMs)
            return KillSwitchRecord(
                id: id, scope: scope, subject: subject, reason: reason, engagedBy: actor, engagedMs: nowMs, releasedMs: nil, releasedBy: nil)
        }
    }

    /// Releases the active kill switch of a scope and subject; only operators do this.
    public func releaseKillSwitch(scope: KillSwitchRecord.Scope, subject: String, by actor: String, nowMs: Int64) throws -> KillSwitchRecord {
        try pool.write { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT * FROM kill_switches WHERE scope = ? AND subject = ? AND released_ms IS NULL", arguments: [scope.rawValue, subject])
            else { throw StoreError.notFound("active \(scope.rawValue) kill switch for \(subject)") }
            let id: Int64 = row["id"]
            try db.execute(sql: "UPDATE kill_switches SET released_ms = ?, released_by = ? WHERE id = ?", arguments: [nowMs, actor, id])
            try Self.appendChange(db, kind: .killSwitch, subject: String(id), nowMs: nowMs)
            return Self.killSwitch(try Row.fetchOne(db, sql: "SELECT * FROM kill_switches WHERE id = ?", arguments: [id])!)
        }
    }

    public func killSwitches(includeReleased: Bool) throws -> [KillSwitchRecord] {
        try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM kill_switches \(includeReleased ? "" : "WHERE released_ms IS NULL") ORDER BY id"
            ).map(Self.killSwitch)
        }
    }

    public func killSwitch(id: Int64) throws -> KillSwitchRecord? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM kill_switches WHERE id = ?", arguments: [id]).map(Self.killSwitch) }
    }

    private static func killSwitch(_ row: Row) -> KillSwitchRecord {
        KillSwitchRecord(
            id: row["id"], scope: KillSwitchRecord.Scope(rawValue: row["scope"]) ?? .global, subject: row["subject"], reason: row["reason"],
            engagedBy: row["engaged_by"], engagedMs: row["engaged_ms"], releasedMs: row["released_ms"], releasedBy: row["released_by"])
    }

    // MARK: IP blocks

    public func addIPBlock(_ network: IPNetwork, reason: String, by actor: String, nowMs: Int64, expiresMs: Int64?) throws -> IPBlockRecord {
        try pool.write { db in
            try db.execute(
                sql: "INSERT INTO ip_blocks (cidr, reason, created_by, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?)",
                arguments: [network.description, reason, actor, nowMs, expiresMs])
            let id = db.lastInsertedRowID
            try Self.appendChange(db, kind: .ipBlocks, subject: String(id), nowMs: nowMs)
            return IPBlockRecord(id: id, network: network, reason: reason, createdBy: actor, createdMs: nowMs, expiresMs: expiresMs, removedMs: nil)
        }
    }

    /// Lifts every active block of exactly this network; returns how many.
    @discardableResult
    public func removeIPBlock(_ network: IPNetwork, nowMs: Int64) throws -> Int {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE ip_blocks SET removed_ms = ? WHERE cidr = ? AND removed_ms IS NULL", arguments: [nowMs, network.description])
            let count = db.changesCount
            guard count > 0 else { throw StoreError.notFound("block of \(network)") }
            try Self.appendChange(db, kind: .ipBlocks, subject: network.description, nowMs: nowMs)
            return count
        }
    }

    public func ipBlocks(activeAtMs now: Int64?) throws -> [IPBlockRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM ip_blocks ORDER BY id").compactMap { row -> IPBlockRecord? in
                guard let network = IPNetwork(row["cidr"]) else { return nil }
                let record = IPBlockRecord(
                    id: row["id"], network: network, reason: row["reason"], createdBy: row["created_by"], createdMs: row["created_ms"],
                    expiresMs: row["expires_ms"], removedMs: row["removed_ms"])
                return now.map { record.isActive(atMs: $0) ? record : nil } ?? record
            }
        }
    }
}
