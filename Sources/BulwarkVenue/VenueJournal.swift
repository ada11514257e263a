import BulwarkCore
import Synchronization

/// One journaled operation: when it ran, what it was, and what it produced.
public struct JournalEntry: Sendable, Equatable {
    /// The `nowMs` the engine was given (replay gives it again: deadlines, timestamps).
    public let atMs: Int64
    /// `VenueCommand.encoded`.
    public let command: String
    /// `JournalOutcome.describe`: the orders and fills the command produced. Replay recomputes it
    /// and refuses to start on any difference (the engine changed its rules under the journal).
    public let outcome: String

    public init(atMs: Int64, command: String, outcome: String) {
        self.atMs = atMs
        self.command = command
        self.outcome = outcome
    }
}

/// Where the venue makes its operations durable. The venue calls `append` after applying
/// operations and BEFORE anyone hears of them (reply, events): an implementation must not return
/// until the entries survive a crash of the process, and should not until they survive a crash of
/// the machine (fsync). It throws if it cannot; the venue then stops accepting operations.
public protocol VenueJournal: AnyObject, Sendable {
    /// Appends entries in order, all or none: the venue's group commit (one sync for every
    /// operation applied while the previous sync ran).
    func append(contentsOf entries: [JournalEntry]) throws
    /// Every entry, in append order.
    func entries() throws -> [JournalEntry]
}

/// A journal in memory: for tests, and for a venue whose state need not survive the process.
public final class InMemoryVenueJournal: VenueJournal {
    private let stored = Mutex<[JournalEntry]>([])
    /// When set, `append` throws it (tests of the venue's fail-stop).
    private let failure = Mutex<(any Error)?>(nil)

    public init(entries: [JournalEntry] = []) { stored.withLock { $0 = entries } }

    public func append(contentsOf entries: [JournalEntry]) throws {
        if let error = failure.withLock({ $0 }) { throw error }
        stored.withLock { $0.append(contentsOf: entries) }
    }

    public func entries() throws -> [JournalEntry] { stored.withLock { $0 } }

    public func failAppends(with error: (any Error)?) { failure.withLock { $0 = error } }
}

/// What an operation produced, in a canonical text form: every order update (id, status, filled
/// quantity, cancel reason) and every fill (trade id, maker and taker order, price, quantity).
/// The journal keeps it so that each fill is on disk, and so that replay can prove it rebuilt the
/// same history.
public enum JournalOutcome {
    public static func describe(_ events: [EngineEvent]) -> String {
        var w = JSONWriter(reserveCapacity: 128)
        w.beginObject()
        w.key("orders")
        w.beginArray()
        for case .orderUpdate(let order) in events {
            w.beginArray()
            w.string(order.orderID)
            w.string(order.status.rawValue)
            w.string(order.filledQty.description)
            w.string(order.cancelReason?.rawValue ?? "")
            w.endArray()
        }
        w.endArray()
        w.key("fills")
        w.beginArray()
        for case .trade(let trade) in events {
            w.beginArray()
            w.string(trade.tradeID)
            w.string(trade.makerOrderID)
            w.string(trade.takerOrderID)
            w.string(trade.price.description)
            w.string(trade.qty.description)
            w.endArray()
        }
        w.endArray()
        w.endObject()
        return w.string
    }
}

/// Why the venue could not be rebuilt from its journal.
public enum JournalRecoveryError: Error, CustomStringConvertible {
    case unreadable(index: Int, command: String)
    case diverged(index: Int, command: String, recorded: String, replayed: String)
    case refused(index: Int, command: String, code: ErrorCode, reason: String?)

    public var description: String {
        switch self {
        case .unreadable(let index, let command):
            "journal entry \(index) cannot be read: \(command)"
        case .diverged(let index, let command, let recorded, let replayed):
            "journal entry \(index) (\(command)) replays differently: recorded \(recorded), replayed \(replayed)"
        case .refused(let index, let command, let code, let reason):
            "journal entry \(index) (\(command)) is refused on replay: \(code.name) \(reason ?? "")"
        }
    }
}

/// What a recovery rebuilt.
public struct RecoveryReport: Sendable, Equatable {
    public var entries = 0
    public var orders = 0
    public var openOrders = 0
    public var fills = 0
}
