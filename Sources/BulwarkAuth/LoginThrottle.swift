import BulwarkCore
import Synchronization

/// Slows down and finally locks out repeated failed logins, per key id and per client IP.
///
/// The policy (docs/security-model.md):
/// - the first `freeFailures` consecutive failures of a key id (`freeFailuresPerIP` of an address)
///   cost nothing; after that each attempt must wait
///   `baseDelayMs × 2^(n − freeFailures)`, at most `maxDelayMs` (an attempt inside the wait gets
///   `rate_limited` with `retry_after_ms`, bucket `login`, without being checked);
/// - `lockoutFailures` consecutive failures on one key lock it for `lockoutMs` (NIST SP 800-63B
///   allows at most 100); an operator can unlock it earlier;
/// - a success resets the key's and the IP's counters.
///
/// Counters are kept for any key id string, existing or not, so throttling never reveals whether a
/// key exists. Memory is bounded: beyond `capacity` entries the oldest are forgotten.
public final class LoginThrottle: Sendable {
    public struct Policy: Sendable {
        public var freeFailures = 3
        /// Higher for addresses: many clients may share one (NAT, a bank's egress).
        public var freeFailuresPerIP = 10
        public var baseDelayMs: Int64 = 500
        public var maxDelayMs: Int64 = 30_000
        public var lockoutFailures = 20
        public var lockoutMs: Int64 = 30 * 60_000
        public var capacity = 100_000

        public init() {}
    }

    public enum Decision: Sendable, Equatable {
        case proceed
        case wait(retryAfterMs: Int64)
    }

    public enum FailureOutcome: Sendable, Equatable {
        case counted
        /// This failure locked the key until the given time.
        case lockedKey(untilMs: Int64)
    }

    struct Entry {
        var failures = 0
        var lastFailureMs: Int64 = 0
        var touchedMs: Int64 = 0
    }

    public let policy: Policy
    private let keys = Mutex<[String: Entry]>([:])
    private let addresses = Mutex<[String: Entry]>([:])

    public init(policy: Policy = Policy()) { self.policy = policy }

    /// Whether an attempt may be checked now.
    public func admit(keyID: String, ip: String, nowMs: Int64) -> Decision {
        let waits = [
            keys.withLock { wait(for: $0[keyID], free: policy.freeFailures, nowMs: nowMs) },
            addresses.withLock { wait(for: $0[ip], free: policy.freeFailuresPerIP, nowMs: nowMs) },
        ]
        let longest = waits.max() ?? 0
        return longest > 0 ? .wait(retryAfterMs: longest) : .proceed
    }

    public func recordFailure(keyID: String, ip: String, nowMs: Int64) -> FailureOutcome {
        let keyFailures = Self.bump(keys, keyID, nowMs: nowMs, capacity: policy.capacity)
        _ = Self.bump(addresses, ip, nowMs: nowMs, capacity: policy.capacity)
        if keyFailures >= policy.lockoutFailures && keyFailures % policy.lockoutFailures == 0 {
            return .lockedKey(untilMs: nowMs + policy.lockoutMs)
        }
        return .counted
    }

    public func recordSuccess(keyID: String, ip: String) {
        keys.withLock { _ = $0.removeValue(forKey: keyID) }
        addresses.withLock { _ = $0.removeValue(forKey: ip) }
    }

    /// An operator unlocked the key: forget its failures.
    public func reset(keyID: String) {
        keys.withLock { _ = $0.removeValue(forKey: keyID) }
    }

    public func failures(keyID: String) -> Int { keys.withLock { $0[keyID]?.failures ?? 0 } }

    /// Milliseconds still to wait after `entry`'s last failure.
    func wait(for entry: Entry?, free: Int, nowMs: Int64) -> Int64 {
        guard let entry, entry.failures >= free else { return 0 }
        let doublings = min(entry.failures - free, 20)
        let delay = min(policy.baseDelayMs << Int64(doublings), policy.maxDelayMs)
        return max(0, entry.lastFailureMs + delay - nowMs)
    }

    private static func bump(_ table: borrowing Mutex<[String: Entry]>, _ id: String, nowMs: Int64, capacity: Int) -> Int {
        table.withLock { entries in
            if entries[id] == nil && entries.count >= capacity {
                // Forget the least recently touched tenth; an attacker spraying ids cannot grow memory.
                let oldest = entries.sorted { $0.value.touchedMs < $1.value.touchedMs }.prefix(max(1, capacity / 10)).map(\.key)
                for key in oldest { entries.removeValue(forKey: key) }
            }
            var entry = entries[id, default: Entry()]
            entry.failures += 1
            entry.lastFailureMs = nowMs
            entry.touchedMs = nowMs
            entries[id] = entry
            return entry.failures
        }
    }
}
