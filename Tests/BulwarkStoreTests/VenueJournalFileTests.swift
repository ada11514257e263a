import BulwarkStore
import Foundation
import Testing

@Suite struct VenueJournalFileTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-journal-\(UUID().uuidString)")

    var path: String { directory.appendingPathComponent("venue-journal.sqlite").path }

    @Test func entriesSurviveReopeningInAppendOrder() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            let journal = try VenueJournalFile(path: path)
            try journal.append(atMs: 5, command: #"{"op":"a"}"#, outcome: "x")
            try journal.append(atMs: 3, command: #"{"op":"b"}"#, outcome: "y")
        }
        let reopened = try VenueJournalFile(path: path)
        let entries = try reopened.readAll()
        #expect(entries.map(\.command) == [#"{"op":"a"}"#, #"{"op":"b"}"#])
        #expect(entries.map(\.atMs) == [5, 3])
        #expect(try reopened.count() == 2)
        try reopened.append(atMs: 9, command: "c", outcome: "z")
        #expect(try reopened.readAll().last?.outcome == "z")
    }

    /// The guarantee rests on these two pragmas: WAL, and a sync of the WAL at every commit.
    @Test func fsyncDurabilityMeansWALAndSynchronousFull() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let journal = try VenueJournalFile(path: path, durability: .fsync)
        try journal.append(atMs: 1, command: "a", outcome: "b")
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        #expect(try journal.synchronousSetting() == 2)  // FULL
        #expect(try VenueJournalFile(path: path, durability: .process).synchronousSetting() == 1)  // NORMAL
    }
}
