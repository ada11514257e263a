import BulwarkCore
import Synchronization

/// Where a connection's guard sends what it has to say: the error of a refused request, a
/// `rate_limit.warning`, and finally the 4008 close. `ConnectionOutbound` in production.
protocol RateLimitSignals: Sendable {
    func send(_ bytes: [UInt8])
    func close(_ code: CloseCode, reason: String)
}

extension ConnectionOutbound: RateLimitSignals {}

/// Charges each request of one connection to its buckets and runs the enforcement ladder
/// (docs/rate-limits.md):
///
/// 1. a bucket reaching `abuse.warning_percent` → one `rate_limit.warning` notification
///    (again only after it has drained below the mark);
/// 2. a request beyond a limit → `rate_limited` (11001) with `retry_after_ms` and `bucket`;
///    a banned address or key → `banned` (11002) with `until_ms`; each is a violation;
/// 3. `abuse.close_after` violations within its window → close 4008 (never the first one);
/// 4. `abuse.ban_after` such closes of an address or key → a ban (`AbuseControl`).
///
/// Every refusal is answered: nothing is dropped silently.
final class ConnectionRateGuard: Sendable {
    enum Admission: Equatable {
        /// Serve the request; report this usage (nil when the connection turned `usage` off).
        case proceed(RateUsage?)
        /// Refused: the error is sent already (and the close, if this was one violation too many).
        case refused
    }

    let clientIP: String
    private let limits: RateLimits
    private let signals: any RateLimitSignals
    private let state = Mutex(State())

    private struct State {
        var messages = GCRAState()
        var subscriptions = GCRAState()
        var violations = GCRAState()
        var warned: Set<RateBucket> = []
        var usageEnabled = true
        var closing = false
    }

    init(clientIP: String, limits: RateLimits, signals: any RateLimitSignals) {
        self.clientIP = clientIP
        self.limits = limits
        self.signals = signals
    }

    var usageEnabled: Bool {
        get { state.withLock { $0.usageEnabled } }
        set { state.withLock { $0.usageEnabled = newValue } }
    }

    /// Charges the request. `accountID` and `keyID` are the connection's session's, if logged in.
    func admit(_ request: RPCRequest, accountID: String?, keyID: String?, nowMs: Int64) -> Admission {
        // A login names its key: a banned key is refused before its signature is even checked.
        let loginKey = request.method == "public/auth" ? request.params["key_id"]?.stringValue : nil
        if let ban = limits.abuse.activeBan(ip: clientIP, keyID: keyID ?? loginKey, nowMs: nowMs) {
            return refuse(request.id, RPCError(.banned, untilMs: ban.untilMs), keyID: keyID, nowMs: nowMs)
        }
        let plan = MethodCosts.plan(for: request.method, loggedIn: accountID != nil)
        var charged: [(RateBucket, RateDecision)] = []
        for (bucket, cost) in plan.charges {
            guard let decision = charge(bucket, cost: cost, accountID: accountID, nowMs: nowMs) else { continue }
            guard decision.allowed else {
                let error = RPCError(.rateLimited, retryAfterMs: decision.retryAfterMs, bucket: bucket.rawValue)
                return refuse(request.id, error, keyID: keyID, nowMs: nowMs)
            }
            charged.append((bucket, decision))
        }
        warnIfNearlyFull(charged)
        guard usageEnabled, let reported = charged.first(where: { $0.0 == plan.reported }) ?? charged.last else { return .proceed(nil) }
        return .proceed(RateUsage(bucket: reported.0, decision: reported.1))
    }

    /// Every bucket that applies to this connection, its address and its account, for `private/session.status`.
    func status(accountID: String?, nowMs: Int64) -> [BucketStatus] {
        let connection = state.withLock { ($0.messages, $0.subscriptions) }
        var rows = [
            BucketStatus(bucket: .messages, decision: connection.0.peek(limit: limits.settings.connectionMessages, nowMs: nowMs)),
            BucketStatus(bucket: .subscriptions, decision: connection.1.peek(limit: limits.settings.connectionSubscribes, nowMs: nowMs)),
            BucketStatus(bucket: .login, decision: limits.admission.peekLogin(ip: clientIP, nowMs: nowMs)),
        ]
        if let accountID {
            for bucket in RateBucket.allCases where bucket.scope == .account {
                if let decision = limits.accounts.peek(bucket, accountID: accountID, nowMs: nowMs) {
                    rows.append(BucketStatus(bucket: bucket, decision: decision))
                }
            }
        }
        return rows
    }

    struct BucketStatus: Sendable {
        let bucket: RateBucket
        let decision: RateDecision
    }

    // MARK: Internals

    private func charge(_ bucket: RateBucket, cost: Int64, accountID: String?, nowMs: Int64) -> RateDecision? {
        let settings = limits.settings
        switch bucket {
        case .messages: return state.withLock { $0.messages.charge(cost, limit: settings.connectionMessages, nowMs: nowMs) }
        case .subscriptions: return state.withLock { $0.subscriptions.charge(cost, limit: settings.connectionSubscribes, nowMs: nowMs) }
        case .login: return limits.admission.chargeLogin(ip: clientIP, nowMs: nowMs)
        case .weight, .orders, .ordersDay, .cancels:
            guard let accountID else { return nil }
            return limits.accounts.charge(bucket, cost: cost, accountID: accountID, nowMs: nowMs)
        case .ipHandshakes, .ipConnections, .ipConcurrent, .globalConnections, .globalConcurrent:
            return nil
        }
    }

    /// Answers the refusal, counts the violation, and closes with 4008 at the threshold.
    private func refuse(_ id: RPCID, _ error: RPCError, keyID: String?, nowMs: Int64) -> Admission {
        signals.send(RPCResponse.error(id: id, error))
        let closeAfter = limits.settings.abuse.closeAfter
        let overThreshold = state.withLock { state -> Bool in
            guard !state.closing else { return false }
            let counted = state.violations.charge(1, limit: closeAfter, nowMs: nowMs)
            state.closing = !counted.allowed || counted.remaining == 0
            return state.closing
        }
        if overThreshold {
            // Strikes first: a ban this close earns is in force before the client sees the close.
            limits.abuse.connectionClosedForAbuse(ip: clientIP, keyID: keyID, nowMs: nowMs)
            signals.close(.rateLimitAbuse, reason: "rate_limit_abuse")
        }
        return .refused
    }

    private func warnIfNearlyFull(_ charged: [(RateBucket, RateDecision)]) {
        let mark = Double(limits.settings.abuse.warningPercent) / 100
        let toWarn = state.withLock { state -> [(RateBucket, RateDecision)] in
            var crossing: [(RateBucket, RateDecision)] = []
            for (bucket, decision) in charged {
                if decision.usedFraction >= mark {
                    if state.warned.insert(bucket).inserted { crossing.append((bucket, decision)) }
                } else {
                    state.warned.remove(bucket)
                }
            }
            return crossing
        }
        for (bucket, decision) in toWarn { signals.send(Self.warning(bucket, decision)) }
    }

    /// `{"jsonrpc":"2.0","method":"rate_limit.warning","params":{"bucket","limit","period_ms","remaining","reset_ms"}}`
    static func warning(_ bucket: RateBucket, _ decision: RateDecision) -> [UInt8] {
        Notification.method("rate_limit.warning") { w in
            w.beginObject()
            w.key("bucket")
            w.string(bucket.rawValue)
            w.key("limit")
            w.int(decision.limit.count)
            w.key("period_ms")
            w.int(decision.limit.periodMs)
            w.key("remaining")
            w.int(decision.remaining)
            w.key("reset_ms")
            w.int(decision.resetMs)
            w.endObject()
        }
    }
}
