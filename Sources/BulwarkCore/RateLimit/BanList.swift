import Synchronization

/// Who a ban applies to: a client address (refused before the upgrade) or an API key (refused at
/// login and on every request of its sessions). Written `ip:203.0.113.7` or `key:k_…`.
public enum BanSubject: Sendable, Hashable, CustomStringConvertible {
    case ip(String)
    case key(String)

    public init?(_ text: String) {
        if text.hasPrefix("ip:"), text.count > 3 {
            self = .ip(String(text.dropFirst(3)))
        } else if text.hasPrefix("key:"), text.count > 4 {
            self = .key(String(text.dropFirst(4)))
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .ip(let address): "ip:\(address)"
        case .key(let keyID): "key:\(keyID)"
        }
    }
}

/// Temporary bans that escalate on repeat: the n-th ban of a subject within `resetAfterMs` of its
/// previous one lasts `baseMs × 2^(n−1)`, at most `maxMs`. Nothing is permanent: a ban ends by
/// itself or when an operator lifts it (which also forgets the escalation).
public final class BanList: Sendable {
    public struct Policy: Sendable, Equatable {
        public var baseMs: Int64 = 60_000
        public var maxMs: Int64 = 86_400_000
        /// A subject whose last ban started longer ago than this starts again at `baseMs`.
        public var resetAfterMs: Int64 = 86_400_000

        public init() {}

        public func durationMs(level: Int) -> Int64 {
            let doublings = Int64(min(max(level - 1, 0), 40))
            return min(baseMs << doublings, maxMs)
        }
    }

    public struct Ban: Sendable, Equatable {
        public let subject: BanSubject
        public let sinceMs: Int64
        public let untilMs: Int64
        /// 1 for a first ban, 2 for the next one within `resetAfterMs`, …
        public let level: Int
        public let reason: String

        public init(subject: BanSubject, sinceMs: Int64, untilMs: Int64, level: Int, reason: String) {
            self.subject = subject
            self.sinceMs = sinceMs
            self.untilMs = untilMs
            self.level = level
            self.reason = reason
        }

        public func isActive(atMs now: Int64) -> Bool { now < untilMs }
    }

    public let policy: Policy
    private let bans = Mutex<[BanSubject: Ban]>([:])

    public init(policy: Policy = Policy()) { self.policy = policy }

    /// Bans the subject, one level above its previous ban if that one is recent enough.
    @discardableResult
    public func ban(_ subject: BanSubject, reason: String, nowMs: Int64) -> Ban {
        bans.withLock { bans in
            let previous = bans[subject].map { nowMs - $0.sinceMs <= policy.resetAfterMs ? $0.level : 0 } ?? 0
            let level = previous + 1
            let ban = Ban(subject: subject, sinceMs: nowMs, untilMs: nowMs + policy.durationMs(level: level), level: level, reason: reason)
            bans[subject] = ban
            return ban
        }
    }

    /// Re-installs a ban read from the store at start (keeps its level for escalation).
    public func restore(_ ban: Ban) { bans.withLock { $0[ban.subject] = ban } }

    /// The ban in force for the subject, if any.
    public func active(_ subject: BanSubject, nowMs: Int64) -> Ban? {
        bans.withLock { $0[subject] }.flatMap { $0.isActive(atMs: nowMs) ? $0 : nil }
    }

    /// Ends the subject's ban and forgets its escalation; false when it had no ban in force.
    @discardableResult
    public func lift(_ subject: BanSubject, nowMs: Int64) -> Bool {
        bans.withLock { $0.removeValue(forKey: subject) }.map { $0.isActive(atMs: nowMs) } ?? false
    }

    /// Bans in force, soonest to end first. Expired entries older than the escalation memory are dropped.
    public func active(nowMs: Int64) -> [Ban] {
        bans.withLock { bans in
            bans = bans.filter { $0.value.isActive(atMs: nowMs) || nowMs - $0.value.sinceMs <= policy.resetAfterMs }
            return bans.values.filter { $0.isActive(atMs: nowMs) }.sorted { ($0.untilMs, $0.subject.description) < ($1.untilMs, $1.subject.description) }
        }
    }
}
