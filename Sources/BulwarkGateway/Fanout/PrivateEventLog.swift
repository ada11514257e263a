import BulwarkCore
import Synchronization

/// The recent private events of each account with live sessions, so a client that reconnects and
/// resumes its session gets every `orders`, `fills`, `balances` and `session` message it missed,
/// in order, exactly once (PROTOCOL.md §4.3).
///
/// Every private notification carries `private_seq`, one counter per account across the four
/// private channels. Publishing and a resume's replay-then-subscribe both run under the account's
/// lock, so an event is either in the replay or delivered live, never both and never neither.
///
/// Bounded: at most `capacity` events per account (oldest dropped first), kept only while the
/// account has a live session on this node.
final class PrivateEventLog: Sendable {
    struct Event: Sendable {
        let privateSeq: UInt64
        let topicKey: String
        let bytes: [UInt8]
    }

    private struct AccountLog {
        var sessions = 0
        var nextSeq: UInt64 = 1
        var events: [Event] = []
        /// Index of the oldest event in `events` (a ring once full).
        var head = 0

        var ordered: [Event] { Array(events[head...] + events[..<head]) }
        var oldestSeq: UInt64? { events.isEmpty ? nil : events[head].privateSeq }
    }

    /// What a resume gets back.
    struct Replay: Sendable {
        let events: [Event]
        /// False when the client asked for events older than the log still holds: it must re-read
        /// its open orders and balances.
        let complete: Bool
    }

    let capacity: Int
    private let accounts = Mutex<[String: AccountLog]>([:])

    init(capacity: Int = 1024) { self.capacity = max(1, capacity) }

    func sessionStarted(accountID: String) {
        accounts.withLock { $0[accountID, default: AccountLog()].sessions += 1 }
    }

    /// The account's last session ended: its log goes (nobody can resume any more).
    func sessionEnded(accountID: String) {
        accounts.withLock { accounts in
            guard var log = accounts.removeValue(forKey: accountID) else { return }
            log.sessions -= 1
            accounts[accountID] = log.sessions > 0 ? log : nil
        }
    }

    /// Publishes one private event: `publish` gets the event's `private_seq` (nil when the account
    /// has no live session: nobody could resume it) and returns the encoded notification, which the
    /// log keeps for replay.
    func record(accountID: String, topicKey: String, publish: (UInt64?) -> [UInt8]?) {
        accounts.withLock { accounts in
            // Taken out of the dictionary so it is uniquely referenced: appending then mutates the
            // ring in place instead of copying every retained event (the profile's 12 %).
            guard var log = accounts.removeValue(forKey: accountID) else {
                _ = publish(nil)
                return
            }
            let seq = log.nextSeq
            log.nextSeq += 1
            if let bytes = publish(seq) {
                let event = Event(privateSeq: seq, topicKey: topicKey, bytes: bytes)
                if log.events.count < capacity {
                    log.events.append(event)
                } else {
                    log.events[log.head] = event
                    log.head = (log.head + 1) % capacity
                }
            }
            accounts[accountID] = log
        }
    }

    /// Events after `afterSeq` on `topicKeys`, and then `subscribe` runs, all under the account's
    /// lock: nothing published in between can be missed or doubled.
    func replay(accountID: String, after afterSeq: UInt64, topicKeys: Set<String>, thenSubscribe subscribe: ([Event]) -> Void) -> Replay {
        accounts.withLock { accounts in
            let log = accounts[accountID] ?? AccountLog()
            let missed = log.ordered.filter { $0.privateSeq > afterSeq && topicKeys.contains($0.topicKey) }
            // Complete if the log still holds the event right after `afterSeq` (or nothing was missed).
            let complete = afterSeq + 1 >= (log.oldestSeq ?? log.nextSeq)
            subscribe(missed)
            return Replay(events: missed, complete: complete)
        }
    }

    /// How many events after `afterSeq` on `topicKeys` a resume would replay now, and whether the
    /// log still reaches back that far (for the login result; the replay itself comes after it).
    func pending(accountID: String, after afterSeq: UInt64, topicKeys: Set<String>) -> (count: Int, complete: Bool) {
        accounts.withLock { accounts in
            let log = accounts[accountID] ?? AccountLog()
            let count = log.events.reduce(0) { $0 + ($1.privateSeq > afterSeq && topicKeys.contains($1.topicKey) ? 1 : 0) }
            return (count, afterSeq + 1 >= (log.oldestSeq ?? log.nextSeq))
        }
    }

    /// A session taken over from another node continues that node's numbering: the account's
    /// next `private_seq` here is above `afterSeq` (what the client saw there), so the client never
    /// takes a new event for one it already has. Nothing is replayed across nodes: each node
    /// numbers its own events, and the same number can mean different events on two nodes.
    /// Returns the last `private_seq` now handed out.
    @discardableResult
    func continueNumbering(accountID: String, after afterSeq: UInt64) -> UInt64 {
        accounts.withLock { accounts in
            guard var log = accounts.removeValue(forKey: accountID) else { return afterSeq }
            log.nextSeq = max(log.nextSeq, afterSeq + 1)
            accounts[accountID] = log
            return log.nextSeq - 1
        }
    }

    /// The last `private_seq` handed out for the account (0 before any).
    func lastSeq(accountID: String) -> UInt64 { accounts.withLock { ($0[accountID]?.nextSeq ?? 1) - 1 } }
}
