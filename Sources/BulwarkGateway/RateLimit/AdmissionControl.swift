import BulwarkCore
import NIOHTTP1
import Synchronization

/// The limits checked before `101 Switching Protocols` (PROTOCOL.md §3.1), and the per-IP login
/// bucket. A refused upgrade gets an HTTP status and no frames: 403 for a banned address, 429 for
/// a per-IP limit, 503 when the node is at its limits.
///
/// Order matters: the address's own limits come first, so a flooding address is refused without
/// spending the node's shared allowance.
final class AdmissionControl: Sendable {
    struct Refusal: Sendable, Equatable {
        let status: HTTPResponseStatus
        /// `banned`, `rate_limited` or `overloaded`.
        let error: String
        let bucket: RateBucket?
        let retryAfterMs: Int64
        let untilMs: Int64?
    }

    enum Verdict: Sendable, Equatable {
        /// Admitted: the caller must call `release(ip:)` when the connection closes.
        case admit
        case refuse(Refusal)
    }

    let settings: RateLimitSettings
    private let abuse: AbuseControl
    private let handshakes = RateLimitTable()
    private let connections = RateLimitTable()
    private let logins = RateLimitTable()
    private let global = Mutex(GCRAState())
    private let open = Mutex(OpenConnections())

    struct OpenConnections {
        var total = 0
        var byIP: [String: Int] = [:]
    }

    init(settings: RateLimitSettings, abuse: AbuseControl) {
        self.settings = settings
        self.abuse = abuse
    }

    /// Decides an upgrade request. `policyAccepted` is false when `UpgradePolicy` already refused
    /// it (bad Origin, version): such attempts still count as handshakes, then the caller answers
    /// with the policy's own status.
    func admitUpgrade(ip: String, policyAccepted: Bool, nowMs: Int64) -> Verdict {
        if let ban = abuse.activeBan(ip: ip, keyID: nil, nowMs: nowMs) {
            return .refuse(Refusal(status: .forbidden, error: "banned", bucket: nil, retryAfterMs: ban.untilMs - nowMs, untilMs: ban.untilMs))
        }
        let handshake = handshakes.charge(ip, limit: settings.ipHandshakes, nowMs: nowMs)
        guard handshake.allowed else { return refusedPerIP(.ipHandshakes, ip: ip, retryAfterMs: handshake.retryAfterMs, nowMs: nowMs) }
        guard policyAccepted else { return .admit }
        let perIPOpen = open.withLock { $0.byIP[ip, default: 0] }
        guard perIPOpen < settings.ipMaxConnections else {
            // A slot frees when one of this address's connections closes; a second is a fair hint.
            return refusedPerIP(.ipConcurrent, ip: ip, retryAfterMs: 1000, nowMs: nowMs)
        }
        let perIPRate = connections.charge(ip, limit: settings.ipConnections, nowMs: nowMs)
        guard perIPRate.allowed else { return refusedPerIP(.ipConnections, ip: ip, retryAfterMs: perIPRate.retryAfterMs, nowMs: nowMs) }
        // Node-wide checks and the counting happen under one lock: the caps are exact.
        return open.withLock { open -> Verdict in
            // Again under the lock: two upgrades of one address may have passed the first check together.
            guard open.byIP[ip, default: 0] < settings.ipMaxConnections else {
                return .refuse(Refusal(status: .tooManyRequests, error: "rate_limited", bucket: .ipConcurrent, retryAfterMs: 1000, untilMs: nil))
            }
            guard open.total < settings.globalMaxConnections else {
                return .refuse(Refusal(status: .serviceUnavailable, error: "overloaded", bucket: .globalConcurrent, retryAfterMs: 1000, untilMs: nil))
            }
            let rate = global.withLock { $0.charge(1, limit: settings.globalConnections, nowMs: nowMs) }
            guard rate.allowed else {
                return .refuse(Refusal(status: .serviceUnavailable, error: "overloaded", bucket: .globalConnections, retryAfterMs: rate.retryAfterMs, untilMs: nil))
            }
            open.total += 1
            open.byIP[ip, default: 0] += 1
            return .admit
        }
    }

    /// An admitted connection closed.
    func release(ip: String) {
        open.withLock { open in
            open.total = max(0, open.total - 1)
            let left = open.byIP[ip, default: 1] - 1
            open.byIP[ip] = left > 0 ? left : nil
        }
    }

    func openConnections(ip: String) -> Int { open.withLock { $0.byIP[ip, default: 0] } }
    var openConnections: Int { open.withLock { $0.total } }

    /// One `public/auth` attempt from this address (bucket `login`).
    func chargeLogin(ip: String, nowMs: Int64) -> RateDecision { logins.charge(ip, limit: settings.ipLogins, nowMs: nowMs) }
    func peekLogin(ip: String, nowMs: Int64) -> RateDecision { logins.peek(ip, limit: settings.ipLogins, nowMs: nowMs) }

    private func refusedPerIP(_ bucket: RateBucket, ip: String, retryAfterMs: Int64, nowMs: Int64) -> Verdict {
        if let ban = abuse.upgradeRefused(ip: ip, nowMs: nowMs) {
            return .refuse(Refusal(status: .forbidden, error: "banned", bucket: nil, retryAfterMs: ban.untilMs - nowMs, untilMs: ban.untilMs))
        }
        return .refuse(Refusal(status: .tooManyRequests, error: "rate_limited", bucket: bucket, retryAfterMs: retryAfterMs, untilMs: nil))
    }
}

extension AdmissionControl.Refusal {
    /// The JSON body of the HTTP refusal: `{"error":…,"bucket":…,"retry_after_ms":…,"until_ms":…}`.
    var body: String {
        var w = JSONWriter()
        w.beginObject()
        w.key("error")
        w.string(error)
        if let bucket {
            w.key("bucket")
            w.string(bucket.rawValue)
        }
        w.key("retry_after_ms")
        w.int(retryAfterMs)
        if let untilMs {
            w.key("until_ms")
            w.int(untilMs)
        }
        w.endObject()
        return w.string
    }

    /// `Retry-After` in whole seconds, rounded up (RFC 9110 §10.2.3).
    var retryAfterSeconds: String { String(max(1, (retryAfterMs + 999) / 1000)) }
}
