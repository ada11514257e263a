import BulwarkCore
import BulwarkStore
import BulwarkVenue

/// The venue journal on disk (`DATA/venue-journal.sqlite`).
final class FileVenueJournal: VenueJournal {
    let file: VenueJournalFile

    init(path: String, durability: VenueJournalFile.Durability) throws {
        file = try VenueJournalFile(path: path, durability: durability)
    }

    func append(_ entry: JournalEntry) throws {
        try file.append(atMs: entry.atMs, command: entry.command, outcome: entry.outcome)
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
