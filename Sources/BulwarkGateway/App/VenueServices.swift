import BulwarkCore
import BulwarkStore
import BulwarkVenue
import Logging

/// The venue journal on disk (`DATA/venue-journal.sqlite`).
final class FileVenueJournal: VenueJournal {
    let file: VenueJournalFile

    init(path: String, durability: VenueJournalFile.Durability) throws {
        file = try VenueJournalFile(path: path, durability: durability)
    }

    func append(contentsOf entries: [JournalEntry]) throws {
        try file.append(entries.map { (atMs: $0.atMs, command: $0.command, outcome: $0.outcome) })
    }

    func entries() throws -> [JournalEntry] {
        try file.readAll().map { JournalEntry(atMs: $0.atMs, command: $0.command, outcome: $0.outcome) }
    }
}

/// Runs the demo liquidity simulator: one step every `intervalMs` until cancelled.
struct LiquidityDriver: Sendable {
    let venue: BuiltinVenue
    let clock: any WallClock
    let houseAccountID: String
    let intervalMs: Int64

    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(intervalMs))
            guard !Task.isCancelled else { return }
            await venue.simulateLiquidity(accountID: houseAccountID, nowMs: clock.nowMs(), seed: UInt64.random(in: 0...UInt64.max))
        }
    }
}

/// Rebuilds a journaled built-in venue at start (`serve` and `venue` alike).
enum VenueRecovery {
    static func recover(_ venue: BuiltinVenue, journalPath: String, logger: Logger) async throws -> RecoveryReport {
        let start = ContinuousClock.now
        let recovery: RecoveryReport
        do {
            recovery = try await venue.recover()
        } catch {
            throw BootstrapError("cannot rebuild the venue from \(journalPath): \(error)")
        }
        logger.info(
            "venue recovered from its journal",
            metadata: [
                "entries": "\(recovery.entries)", "orders": "\(recovery.orders)", "open_orders": "\(recovery.openOrders)",
                "fills": "\(recovery.fills)", "elapsed": "\(ContinuousClock.now - start)",
            ])
        return recovery
    }
}
