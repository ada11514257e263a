/// Anomaly detection as pure, clock-injected rules (issue 12). Each rule counts observations in a
/// sliding window per subject and fires once per window when its threshold is reached.
public enum SecuritySeverity: String, Sendable, Comparable {
    case low
    case medium
    case high
    case critical

    private var rank: Int {
        switch self {
        case .low: 0
        case .medium: 1
        case .high: 2
        case .critical: 3
        }
    }

    public static func < (lhs: SecuritySeverity, rhs: SecuritySeverity) -> Bool { lhs.rank < rhs.rank }
}

/// What a rule says when it fires.
public struct SecurityEvent: Sendable, Equatable {
    public let rule: String
    public let severity: SecuritySeverity
    /// What it is about: an IP, a key id, an account id, or `*`.
    public let subject: String
    public let details: [String: String]
    public let atMs: Int64

    public init(rule: String, severity: SecuritySeverity, subject: String, details: [String: String], atMs: Int64) {
        self.rule = rule
        self.severity = severity
        self.subject = subject
        self.details = details
        self.atMs = atMs
    }
}

/// One threshold rule: `threshold` observations for a subject within `windowMs` fire it; it then
/// stays quiet for that subject until the window has passed (one alert per burst, not per event).
/// Memory is bounded: at most `maxSubjects` subjects and `threshold` timestamps (or distinct
/// values) each.
public struct ThresholdRule: Sendable {
    public let name: String
    public let severity: SecuritySeverity
    public let threshold: Int
    public let windowMs: Int64
    /// Count distinct values (e.g. key ids per IP) instead of observations.
    public let distinct: Bool
    public static let maxSubjects = 50_000

    private var observations: [String: [(atMs: Int64, value: String)]] = [:]
    private var quietUntil: [String: Int64] = [:]

    public init(name: String, severity: SecuritySeverity, threshold: Int, windowMs: Int64, distinct: Bool = false) {
        self.name = name
        self.severity = severity
        self.threshold = max(1, threshold)
        self.windowMs = windowMs
        self.distinct = distinct
    }

    /// Records one observation; returns the event when this one reaches the threshold.
    public mutating func observe(subject: String, value: String = "", atMs now: Int64, details: [String: String] = [:]) -> SecurityEvent? {
        if observations[subject] == nil, observations.count >= Self.maxSubjects { evictOldest() }
        var list = observations[subject, default: []].filter { now - $0.atMs < windowMs }
        if distinct { list.removeAll { $0.value == value } }
        list.append((now, value))
        if list.count > threshold { list.removeFirst(list.count - threshold) }
        observations[subject] = list
        guard list.count >= threshold, (quietUntil[subject] ?? .min) <= now else { return nil }
        quietUntil[subject] = now + windowMs
        var all = details
        all["count"] = String(list.count)
        all["window_ms"] = String(windowMs)
        return SecurityEvent(rule: name, severity: severity, subject: subject, details: all, atMs: now)
    }

    private mutating func evictOldest() {
        guard let oldest = observations.min(by: { ($0.value.last?.atMs ?? 0) < ($1.value.last?.atMs ?? 0) })?.key else { return }
        observations.removeValue(forKey: oldest)
        quietUntil.removeValue(forKey: oldest)
    }
}

/// The gateway's rules and their documented thresholds (docs/incident-response.md).
public struct DetectionRules: Sendable {
    /// Failed logins for 10 different key ids from one address within a minute.
    public var credentialStuffing = ThresholdRule(name: "credential_stuffing", severity: .high, threshold: 10, windowMs: 60_000, distinct: true)
    /// 10 failed logins on one key id within 5 minutes.
    public var bruteForce = ThresholdRule(name: "brute_force", severity: .high, threshold: 10, windowMs: 300_000)
    /// 3 replayed login nonces or challenges from one address within 5 minutes.
    public var replayAttempts = ThresholdRule(name: "replay_attempts", severity: .medium, threshold: 3, windowMs: 300_000)
    /// 3 sealed-frame violations (forged or replayed frames) from one address within 5 minutes.
    public var sealedFrameViolations = ThresholdRule(name: "sealed_frame_violations", severity: .medium, threshold: 3, windowMs: 300_000)
    /// 5 upgrades refused for their Origin from one address within a minute (CSWSH probing).
    public var originFailures = ThresholdRule(name: "origin_failures", severity: .medium, threshold: 5, windowMs: 60_000)
    /// 500 new connections to the node within a second.
    public var connectionSurge = ThresholdRule(name: "connection_surge", severity: .high, threshold: 500, windowMs: 1_000)

    public init() {}
}
