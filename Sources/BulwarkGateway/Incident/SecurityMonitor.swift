import BulwarkCore
import Foundation
import Logging
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Watches what the gateway sees for attacks (DetectionRules, pure), and turns each finding into a
/// security event: a `security:` log line, an audit record, an optional webhook alert, and, for
/// some rules, an automatic response (blocking the address for a while).
final class SecurityMonitor: Sendable {
    struct Policy: Sendable {
        /// How long an automatic block lasts.
        var autoBlockMs: Int64 = 15 * 60_000
        var autoBlockEnabled = true
        /// Addresses never blocked automatically: blocking a proxy or a local client would lock out
        /// everyone behind it (operators can still block them by hand).
        var neverBlock: [IPNetwork] = [IPNetwork("127.0.0.1")!, IPNetwork("::1")!]
        var webhookURL: URL?
        var webhookAttempts = 4
    }

    private let rules = Mutex(DetectionRules())
    private let policy: Policy
    private let audit: AuditTrail
    private let blocks: IPBlockList
    private let logger: Logger
    private let clock: any WallClock
    private let recent = Mutex<[SecurityEvent]>([])
    /// Counts events by rule for the metrics endpoint (set once at start).
    let eventCounters: LabelledCounters?
    static let recentKept = 500
    let webhookDeliveries = Atomic<Int>(0)
    let webhookFailures = Atomic<Int>(0)

    init(policy: Policy, audit: AuditTrail, blocks: IPBlockList, clock: any WallClock, logger: Logger, eventCounters: LabelledCounters? = nil) {
        self.eventCounters = eventCounters
        self.policy = policy
        self.audit = audit
        self.blocks = blocks
        self.clock = clock
        self.logger = logger
    }

    // MARK: Observations

    func loginFailed(ip: String, keyID: String, code: ErrorCode) {
        let now = clock.nowMs()
        let events = rules.withLock { rules -> [SecurityEvent] in
            var found: [SecurityEvent] = []
            if let event = rules.credentialStuffing.observe(subject: ip, value: keyID, atMs: now) { found.append(event) }
            if let event = rules.bruteForce.observe(subject: keyID, atMs: now, details: ["ip": ip]) { found.append(event) }
            if code == .replayDetected, let event = rules.replayAttempts.observe(subject: ip, atMs: now) { found.append(event) }
            return found
        }
        for event in events { raise(event, blockingIP: event.rule == "credential_stuffing" ? ip : nil) }
    }

    func loginFromNewNetwork(accountID: String, keyID: String, ip: String, network: String) {
        raise(
            SecurityEvent(
                rule: "new_network_login", severity: .low, subject: keyID, details: ["account": accountID, "ip": ip, "network": network],
                atMs: clock.nowMs()), blockingIP: nil)
    }

    func sealedFrameViolation(ip: String) {
        let now = clock.nowMs()
        if let event = rules.withLock({ $0.sealedFrameViolations.observe(subject: ip, atMs: now) }) { raise(event, blockingIP: nil) }
    }

    func originRefused(ip: String) {
        let now = clock.nowMs()
        if let event = rules.withLock({ $0.originFailures.observe(subject: ip, atMs: now) }) { raise(event, blockingIP: ip) }
    }

    func connectionAccepted() {
        let now = clock.nowMs()
        if let event = rules.withLock({ $0.connectionSurge.observe(subject: "*", atMs: now) }) { raise(event, blockingIP: nil) }
    }

    /// The risk engine moved a session to `high` or `critical`; a burst of requests or orders far
    /// above the account's baseline shows as the `request_rate` or `order_notional` reason.
    func sessionRiskRaised(accountID: String, sessionID: String, level: RiskLevel, score: Double, reasons: [String]) {
        let burst = reasons.contains("request_rate") || reasons.contains("order_notional")
        raise(
            SecurityEvent(
                rule: burst ? "activity_burst" : "session_risk", severity: level == .critical ? .high : .medium, subject: accountID,
                details: ["session_hash": SessionHash.of(sessionID), "level": level.rawValue, "score": String(score), "reasons": reasons.joined(separator: ",")],
                atMs: clock.nowMs()), blockingIP: nil)
    }

    /// The latest events, newest first (admin API).
    var recentEvents: [SecurityEvent] { recent.withLock { Array($0.reversed()) } }

    // MARK: Raising

    private func raise(_ event: SecurityEvent, blockingIP ip: String?) {
        eventCounters?.add(event.rule)
        recent.withLock { recent in
            recent.append(event)
            if recent.count > Self.recentKept { recent.removeFirst(recent.count - Self.recentKept) }
        }
        var details = event.details
        details["rule"] = event.rule
        details["severity"] = event.severity.rawValue
        details["subject"] = event.subject
        var response = "alert"
        if let ip, policy.autoBlockEnabled, !policy.neverBlock.contains(where: { $0.contains(ip) }), let network = IPNetwork(ip) {
            if (try? blocks.add(network, reason: "auto:\(event.rule)", by: "system", forMs: policy.autoBlockMs)) != nil {
                response = "blocked_ip_for_\(policy.autoBlockMs)_ms"
                details["response"] = response
            }
        }
        logger.warning("security: \(event.rule)", metadata: details.mapValues { .string($0) })
        audit.record(
            "security.\(event.rule)", actor: "system", clientIP: ip, outcome: .info, details: details)
        if let url = policy.webhookURL { deliver(event, response: response, to: url) }
    }

    /// POSTs the event as JSON, retrying with doubling waits (0.5 s, 1 s, 2 s) on errors and 5xx.
    private func deliver(_ event: SecurityEvent, response: String, to url: URL) {
        var w = JSONWriter()
        IncidentRendering.securityEvent(event, response: response, to: &w)
        let body = Data(w.bytes)
        let attempts = policy.webhookAttempts
        Task { [self] in
            for attempt in 1...attempts {
                var request = URLRequest(url: url, timeoutInterval: 5)
                request.httpMethod = "POST"
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                request.httpBody = body
                if let (_, reply) = try? await URLSession.shared.data(for: request), let status = (reply as? HTTPURLResponse)?.statusCode,
                    (200..<300).contains(status)
                {
                    self.webhookDeliveries.add(1, ordering: .relaxed)
                    return
                }
                if attempt < attempts { try? await Task.sleep(for: .milliseconds(500 << (attempt - 1))) }
            }
            self.webhookFailures.add(1, ordering: .relaxed)
            self.logger.error("security alert webhook failed", metadata: ["rule": "\(event.rule)", "attempts": "\(attempts)"])
        }
    }
}
