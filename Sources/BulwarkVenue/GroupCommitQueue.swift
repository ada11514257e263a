import BulwarkCore

/// The built-in venue's group-commit bookkeeping (`BuiltinVenue`, "Group commit"): operations
/// applied but not yet durable, in apply order, and who waits for what. Not thread-safe: the venue
/// actor owns it. It decides nothing about the journal itself; it only keeps the order and the
/// counts that say when the published state has caught up with the engine.
struct GroupCommitQueue {
    /// What one operation publishes once durable.
    struct Publication {
        let events: [EngineEvent]
        let tickers: [Ticker]
    }

    /// An applied operation waiting for its journal entry to be durable; `waiter` gets true once
    /// it is (and its events are published), false if the venue stopped first.
    struct Pending {
        let entry: JournalEntry
        let publication: Publication
        let waiter: CheckedContinuation<Bool, Never>
    }

    /// Applied, not yet handed to the journal.
    private var uncommitted: [Pending] = []
    /// Applied and not yet published (uncommitted plus the batch being synced).
    private var unpublished = 0
    private var committing = false
    /// Queries waiting for `isSettled`, and operations held back while they wait.
    private var readers: [CheckedContinuation<Void, Never>] = []
    private var heldWriters: [CheckedContinuation<Void, Never>] = []

    /// Nothing applied is waiting to be published.
    var isSettled: Bool { unpublished == 0 }
    var hasReadersWaiting: Bool { !readers.isEmpty }
    var unpublishedCount: Int { unpublished }

    mutating func enqueue(_ pending: Pending) {
        uncommitted.append(pending)
        unpublished += 1
    }

    /// True when the caller must start the commit loop (none runs).
    mutating func startCommitting() -> Bool {
        guard !committing else { return false }
        committing = true
        return true
    }

    mutating func stopCommitting() { committing = false }

    /// Everything enqueued so far, oldest first; nil when nothing is.
    mutating func takeBatch() -> [Pending]? {
        guard !uncommitted.isEmpty else { return nil }
        defer { uncommitted.removeAll(keepingCapacity: true) }
        return uncommitted
    }

    /// A batch taken with `takeBatch` was published (or refused): it no longer counts.
    mutating func finished(_ count: Int) { unpublished -= count }

    /// Everything enqueued and not taken, which will never be published (the venue stopped).
    mutating func abandonUncommitted() -> [Pending] {
        defer {
            unpublished -= uncommitted.count
            uncommitted.removeAll()
        }
        return uncommitted
    }

    mutating func waitForSettled(_ reader: CheckedContinuation<Void, Never>) { readers.append(reader) }

    mutating func holdWriter(_ writer: CheckedContinuation<Void, Never>) { heldWriters.append(writer) }

    /// Once settled: resumes the waiting queries first, then the operations held back for them
    /// (a query that finds the state unsettled again waits again, holding new operations again).
    mutating func resumeIfSettled() {
        guard isSettled else { return }
        let (waiting, held) = (readers, heldWriters)
        readers.removeAll()
        heldWriters.removeAll()
        for reader in waiting { reader.resume() }
        for writer in held { writer.resume() }
    }
}
