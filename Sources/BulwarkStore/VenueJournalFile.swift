import Foundation
import GRDB

/// The venue's order journal: an append-only SQLite table in its own file (WAL mode).
///
/// A file of its own, not a table in `bulwark.sqlite`: every append is on the order path and
/// waits for its fsync, so it must not queue behind the store's other writers (audit batches,
/// sessions, the CLI), and it needs `synchronous = FULL` (the store runs at NORMAL, which survives
/// a crash of the process but not of the machine).
///
/// Entries are opaque text here (the venue encodes and checks them).
public final class VenueJournalFile: Sendable {
    /// How far an append goes before it returns.
    public enum Durability: String, Sendable {
        /// fsync of the WAL at every commit: survives a power cut (SQLite `synchronous = FULL`).
        case fsync
        /// Written to the OS but not synced: survives a crash of the process, not of the machine
        /// (`synchronous = NORMAL`). For measurements and throwaway demos.
        case process
    }

    private let queue: DatabaseQueue
    public let path: String

    public init(path: String, durability: Durability = .fsync) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.writeWithoutTransaction { db in
            _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: durability == .fsync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
        }
        try Self.migrator.migrate(queue)
    }

    /// Append-only, like the store's: never edit a shipped migration.
    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-venue-journal") { db in
            try db.execute(
                sql: """
                    CREATE TABLE venue_journal (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        at_ms INTEGER NOT NULL,
                        command TEXT NOT NULL,
                        outcome TEXT NOT NULL
                    )
                    """)
        }
        return migrator
    }

    /// Appends one entry in its own transaction; returns once committed (and synced, with `.fsync`).
    public func append(atMs: Int64, command: String, outcome: String) throws {
        try append([(atMs: atMs, command: command, outcome: outcome)])
    }

    /// Appends entries in order in one transaction (one sync for all of them: the venue's group
    /// commit); returns once committed (and synced, with `.fsync`).
    public func append(_ entries: [(atMs: Int64, command: String, outcome: String)]) throws {
        try queue.write { db in
            // Cached: prepared once per connection, not parsed again for every order.
            let insert = try db.cachedStatement(sql: "INSERT INTO venue_journal (at_ms, command, outcome) VALUES (?, ?, ?)")
            for entry in entries {
                try insert.execute(arguments: [entry.atMs, entry.command, entry.outcome])
            }
        }
    }

    /// Every entry in append order.
    public func readAll() throws -> [(atMs: Int64, command: String, outcome: String)] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT at_ms, command, outcome FROM venue_journal ORDER BY seq").map { row in
                (atMs: row[0], command: row[1], outcome: row[2])
            }
        }
    }

    /// SQLite's `PRAGMA synchronous` on the journal's connection (2 = FULL, 1 = NORMAL).
    public func synchronousSetting() throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    public func count() throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM venue_journal") ?? 0 }
    }
}
