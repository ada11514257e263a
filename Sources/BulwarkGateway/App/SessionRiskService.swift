import BulwarkCore
import BulwarkSessions
import BulwarkStore
import Logging
import Synchronization

/// Feeds the risk engine (`RiskPolicy`, pure code in Core) with what this node observes, and
/// applies its verdicts: shorter timeouts, step-up for privileged actions, or the end of the
/// session. Behaviour baselines and recent failures are kept in memory per node (bounded).
final class SessionRiskService: Sendable {
    /// One account's own normal: request rate per window, and order notionals.
    private struct Behaviour {
        var window: RateWindow
        var rate = EWMABaseline()
        var notional = EWMABaseline(absoluteFloor: 1)
        /// The most unusual recent order (its z-score) and when it came; it fades after `notionalMemoryMs`.
        var notionalDeviation: Double = 0
        var notionalAtMs: Int64 = 0
    }

    /// Failed logins within `failureWindowMs`, per account and per client IP (timestamps, bounded).
    private struct Failures {
        var byAccount: [String: [Int64]] = [:]
        var byIP: [String: [Int64]] = [:]
    }

    let policy: RiskPolicy
    let enabled: Bool
    let rateWindowMs: Int64
    static let failureWindowMs: Int64 = 15 * 60_000
    static let notionalMemoryMs: Int64 = 5 * 60_000
    /// Bounds on memory: tracked accounts/addresses, and failures remembered per key.
    static let maxTracked = 100_000
    static let maxFailuresPerKey = 64

    private let behaviour = Mutex<[String: Behaviour]>([:])
    private let failures = Mutex(Failures())
    /// What was new about each live session's origin at login.
    private let origins = Mutex<[String: OriginNovelty]>([:])
    private let sessions: SessionRegistry
    private let publisher: MarketDataPublisher
    private let monitor: SecurityMonitor?
    private let logger: Logger

    init(
        policy: RiskPolicy, enabled: Bool, rateWindowMs: Int64, sessions: SessionRegistry, publisher: MarketDataPublisher,
        monitor: SecurityMonitor? = nil, logger: Logger
    ) {
        self.policy = policy
        self.enabled = enabled
        self.rateWindowMs = rateWindowMs
        self.sessions = sessions
        self.publisher = publisher
        self.monitor = monitor
        self.logger = logger
    }

    // MARK: Observations

    func loginFailed(accountID: String?, ip: String, nowMs: Int64) {
        failures.withLock { failures in
            if let accountID { Self.append(nowMs, to: &failures.byAccount, key: accountID) }
            Self.append(nowMs, to: &failures.byIP, key: ip)
        }
    }

    func sessionStarted(_ sessionID: String, origin: OriginNovelty) {
        origins.withLock { $0[sessionID] = origin }
    }

    func sessionEnded(_ sessionID: String) {
        _ = origins.withLock { $0.removeValue(forKey: sessionID) }
    }

    /// A request (not a ping) on one of the account's sessions.
    func requestMade(accountID: String, nowMs: Int64) {
        guard enabled else { return }
        withBehaviour(accountID) { behaviour in
            let closed = behaviour.window.record(atMs: nowMs)
            behaviour.rate.observe(closed)
        }
    }

    /// An order's notional: how unusual it is for this account is remembered for a while, then the
    /// notional joins the account's history.
    func orderNotional(accountID: String, value: Double, nowMs: Int64) {
        guard enabled, value.isFinite, value > 0 else { return }
        withBehaviour(accountID) { behaviour in
            behaviour.notionalDeviation = behaviour.notional.deviation(of: value)
            behaviour.notionalAtMs = nowMs
            behaviour.notional.observe(value)
        }
    }

    // MARK: Assessment

    func signals(for session: Session, nowMs: Int64) -> RiskSignals {
        let origin = origins.withLock { $0[session.id] }
        let (accountFailures, ipFailures) = failures.withLock { failures in
            (Self.recent(failures.byAccount[session.accountID], nowMs: nowMs), Self.recent(failures.byIP[session.clientIP], nowMs: nowMs))
        }
        let (rateDeviation, notionalDeviation) = behaviour.withLock { all -> (Double, Double) in
            guard var behaviour = all[session.accountID] else { return (0, 0) }
            // Quiet windows count too: a burst after a calm minute stands out against the calm.
            behaviour.rate.observe(behaviour.window.advance(toMs: nowMs))
            all[session.accountID] = behaviour
            let current = Double(behaviour.window.currentCount(atMs: nowMs))
            let notional = nowMs - behaviour.notionalAtMs < Self.notionalMemoryMs ? behaviour.notionalDeviation : 0
            return (behaviour.rate.deviation(of: current), notional)
        }
        let networks = Set(sessions.sessions(accountID: session.accountID).map(\.network)).union([session.network])
        // A credential's very first login has no history to be new against.
        let isFirst = origin?.firstLogin ?? true
        return RiskSignals(
            newNetwork: !isFirst && origin?.newNetwork == true, newIP: !isFirst && origin?.newIP == true,
            recentFailedLoginsAccount: accountFailures, recentFailedLoginsIP: ipFailures,
            requestRateDeviation: rateDeviation, orderNotionalDeviation: notionalDeviation, concurrentNetworks: networks.count,
            privilege: Privilege.of(session.scopes), msSinceMFA: session.mfaVerifiedAtMs.map { nowMs - $0 })
    }

    /// Recomputes a session's score, applies the timeouts it implies, tells the client when the
    /// level changes, and ends the session above the kill threshold. Returns the decision.
    @discardableResult
    func reassess(sessionID: String, nowMs: Int64) -> RiskDecision {
        guard enabled, let session = sessions.session(id: sessionID) else { return .allow }
        let assessment = policy.assess(signals(for: session, nowMs: nowMs))
        let timeouts = policy.timeouts(
            baseIdleMs: session.baseIdleTimeoutMs, baseAbsoluteMs: session.baseAbsoluteTimeoutMs, score: assessment.score)
        let risk = SessionRisk(
            score: Self.rounded(assessment.score), level: assessment.level, reasons: assessment.contributions.prefix(3).map(\.factor.rawValue))
        guard let change = sessions.applyRisk(id: sessionID, risk: risk, idleTimeoutMs: timeouts.idleMs, absoluteTimeoutMs: timeouts.absoluteMs)
        else { return .allow }
        let decision = policy.decision(for: assessment)
        if change.levelChanged {
            logger.notice(
                "security: session risk level changed",
                metadata: [
                    "session_hash": "\(SessionHash.of(sessionID))", "account": "\(session.accountID)",
                    "from": "\(change.before.risk.level.rawValue)", "to": "\(risk.level.rawValue)", "score": "\(risk.score)",
                    "reasons": "\(risk.reasons.joined(separator: ","))",
                ])
            publishRisk(change.after, decision: decision, nowMs: nowMs)
            if risk.level >= .high, change.before.risk.level < risk.level {
                monitor?.sessionRiskRaised(
                    accountID: session.accountID, sessionID: sessionID, level: risk.level, score: risk.score, reasons: risk.reasons)
            }
        }
        if decision == .terminate {
            logger.warning(
                "security: session ended by the risk engine",
                metadata: ["session_hash": "\(SessionHash.of(sessionID))", "account": "\(session.accountID)", "score": "\(risk.score)"])
            sessions.end(id: sessionID, reason: .risk, nowMs: nowMs)
        }
        return decision
    }

    /// Every live session, from the sweeper: time passes (MFA freshness fades, failures age out).
    func reassessAll(nowMs: Int64) {
        guard enabled else { return }
        for session in sessions.all { reassess(sessionID: session.id, nowMs: nowMs) }
    }

    private func publishRisk(_ session: Session, decision: RiskDecision, nowMs: Int64) {
        publisher.publishSessionEvent(accountID: session.accountID) { w in
            w.beginObject()
            w.key("type")
            w.string("risk")
            w.key("session_id")
            w.string(session.id)
            w.key("score")
            Render.score(session.risk.score, to: &w)
            w.key("level")
            w.string(session.risk.level.rawValue)
            w.key("reasons")
            w.beginArray()
            for reason in session.risk.reasons { w.string(reason) }
            w.endArray()
            w.key("step_up_required")
            w.bool(decision != .allow)
            w.key("idle_timeout_ms")
            w.int(session.idleTimeoutMs)
            w.key("expires_at_ms")
            w.int(session.expiresAtMs)
            w.key("ts_ms")
            w.int(nowMs)
            w.endObject()
        }
    }

    // MARK: Helpers

    private func withBehaviour(_ accountID: String, _ body: (inout Behaviour) -> Void) {
        behaviour.withLock { all in
            if all[accountID] == nil, all.count >= Self.maxTracked, let any = all.keys.first { all.removeValue(forKey: any) }
            var entry = all[accountID] ?? Behaviour(window: RateWindow(windowMs: rateWindowMs))
            body(&entry)
            all[accountID] = entry
        }
    }

    private static func append(_ time: Int64, to map: inout [String: [Int64]], key: String) {
        if map[key] == nil, map.count >= maxTracked {
            // Forget the key whose newest failure is oldest.
            if let stale = map.min(by: { ($0.value.last ?? 0) < ($1.value.last ?? 0) })?.key { map.removeValue(forKey: stale) }
        }
        var times = map[key] ?? []
        times.append(time)
        if times.count > maxFailuresPerKey { times.removeFirst(times.count - maxFailuresPerKey) }
        map[key] = times
    }

    private static func recent(_ times: [Int64]?, nowMs: Int64) -> Int {
        (times ?? []).reduce(0) { $0 + (nowMs - $1 < failureWindowMs ? 1 : 0) }
    }

    /// Three decimals are plenty for people, and keep the wire form short.
    static func rounded(_ score: Double) -> Double { (score * 1000).rounded() / 1000 }
}
