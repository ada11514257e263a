import BulwarkCore
import Logging

/// The top of the enforcement ladder: counts abuse closes (4008) per address and per key, and
/// bans a subject that keeps coming back (`abuse.ban_after`), for longer each time.
///
/// Bans are kept in memory (checked on every upgrade and request) and written through `journal`
/// so that operators can list and lift them from the CLI and a restart keeps them.
final class AbuseControl: Sendable {
    let bans: BanList
    private let closes: ThresholdCounter
    private let refusedUpgrades: ThresholdCounter
    private let journal: @Sendable (BanList.Ban) -> Void
    private let logger: Logger

    init(policy: RateLimitSettings.AbusePolicy, logger: Logger, journal: @escaping @Sendable (BanList.Ban) -> Void = { _ in }) {
        bans = BanList(policy: policy.bans)
        closes = ThresholdCounter(limit: policy.banAfter)
        refusedUpgrades = ThresholdCounter(limit: policy.closeAfter)
        self.journal = journal
        self.logger = logger
    }

    /// The ban in force on this address, or on this key, if any (the longer one).
    func activeBan(ip: String, keyID: String?, nowMs: Int64) -> BanList.Ban? {
        let candidates = [bans.active(.ip(ip), nowMs: nowMs), keyID.flatMap { bans.active(.key($0), nowMs: nowMs) }]
        return candidates.compactMap { $0 }.max { $0.untilMs < $1.untilMs }
    }

    /// A connection is being closed with 4008: one strike for its address and for its key. Every
    /// ban is in force before any is written to the store (a write can take a while), so a client
    /// that sees the close finds both its address and its key banned.
    @discardableResult
    func connectionClosedForAbuse(ip: String, keyID: String?, nowMs: Int64) -> [BanList.Ban] {
        var subjects: [BanSubject] = [.ip(ip)]
        if let keyID { subjects.append(.key(keyID)) }
        let imposed = subjects.compactMap { impose($0, reason: "rate_limit_abuse", nowMs: nowMs) }
        imposed.forEach(record)
        return imposed
    }

    /// An upgrade was refused for a per-IP limit; refusals at the connection-close threshold
    /// count as one strike (a connection flood is treated like an abusive connection).
    @discardableResult
    func upgradeRefused(ip: String, nowMs: Int64) -> BanList.Ban? {
        guard refusedUpgrades.record(ip, nowMs: nowMs) else { return nil }
        return strike(.ip(ip), reason: "connection_flood", nowMs: nowMs)
    }

    /// Operators: ends a ban in memory (the store is updated by the caller or already was).
    func lift(_ subject: BanSubject, nowMs: Int64) -> Bool {
        closes.reset(subject.description)
        return bans.lift(subject, nowMs: nowMs)
    }

    private func strike(_ subject: BanSubject, reason: String, nowMs: Int64) -> BanList.Ban? {
        guard let ban = impose(subject, reason: reason, nowMs: nowMs) else { return nil }
        record(ban)
        return ban
    }

    /// Counts a strike and bans the subject in memory (in force at once) at the threshold.
    private func impose(_ subject: BanSubject, reason: String, nowMs: Int64) -> BanList.Ban? {
        guard closes.record(subject.description, nowMs: nowMs) else { return nil }
        return bans.ban(subject, reason: reason, nowMs: nowMs)
    }

    /// Writes a ban through (operators list it, a restart and the other nodes enforce it).
    private func record(_ ban: BanList.Ban) {
        journal(ban)
        logger.warning(
            "security: banned",
            metadata: ["subject": "\(ban.subject)", "until_ms": "\(ban.untilMs)", "level": "\(ban.level)", "reason": "\(ban.reason)"])
    }
}
