@testable import BulwarkGateway
import BulwarkCore
import Logging
import NIOHTTP1
import Synchronization
import Testing

/// Records what a connection's guard sends, in order.
final class RecordingSignals: RateLimitSignals, Sendable {
    enum Event: Equatable {
        case warning(String)
        case error(message: String, bucket: String?)
        case close(UInt16)
    }

    private let log = Mutex<[Event]>([])
    var events: [Event] { log.withLock { $0 } }

    func send(_ bytes: [UInt8]) {
        guard case .object(let message)? = try? StrictJSONParser().parse(bytes) else { return }
        if message["method"]?.stringValue == "rate_limit.warning", case .object(let params)? = message["params"] {
            log.withLock { $0.append(.warning(params["bucket"]?.stringValue ?? "?")) }
        } else if case .object(let error)? = message["error"] {
            var bucket: String?
            if case .object(let data)? = error["data"] { bucket = data["bucket"]?.stringValue }
            log.withLock { $0.append(.error(message: error["message"]?.stringValue ?? "?", bucket: bucket)) }
        }
    }

    func close(_ code: CloseCode, reason: String) { log.withLock { $0.append(.close(code.rawValue)) } }
}

func request(_ method: String, id: Int64 = 1, params: JSONObject = JSONObject()) -> RPCRequest {
    RPCRequest(id: .int(id), method: method, params: params)
}

func makeLimits(_ configure: (inout RateLimitSettings) -> Void = { _ in }, tiers: [String: AccountTier] = [:]) -> RateLimits {
    var settings = RateLimitSettings()
    configure(&settings)
    return RateLimits(settings: settings, logger: Logger(label: "test"), tierOf: { tiers[$0] })
}

@Suite struct AdmissionControlTests {
    @Test func perIPConcurrentConnectionsAtTheirNumberAndReleased() {
        let limits = makeLimits { $0.ipMaxConnections = 3 }
        let admission = limits.admission
        for _ in 0..<3 { #expect(admission.admitUpgrade(ip: "a", policyAccepted: true, nowMs: 0) == .admit) }
        guard case .refuse(let refusal) = admission.admitUpgrade(ip: "a", policyAccepted: true, nowMs: 0) else {
            Issue.record("the 4th connection of a passed")
            return
        }
        #expect(refusal.status == .tooManyRequests && refusal.bucket == .ipConcurrent)
        // Another address is unaffected; a closed connection frees a slot.
        #expect(admission.admitUpgrade(ip: "b", policyAccepted: true, nowMs: 0) == .admit)
        admission.release(ip: "a")
        #expect(admission.admitUpgrade(ip: "a", policyAccepted: true, nowMs: 0) == .admit)
        #expect(admission.openConnections(ip: "a") == 3 && admission.openConnections == 4)
    }

    @Test func perIPConnectionRateAtItsNumber() {
        let limits = makeLimits { $0.ipConnections = RateLimit(count: 4, periodMs: 60_000) }
        for _ in 0..<4 { #expect(limits.admission.admitUpgrade(ip: "a", policyAccepted: true, nowMs: 0) == .admit) }
        let fifth = limits.admission.admitUpgrade(ip: "a", policyAccepted: true, nowMs: 0)
        #expect(fifth == .refuse(.init(status: .tooManyRequests, error: "rate_limited", bucket: .ipConnections, retryAfterMs: 15_000, untilMs: nil)))
        #expect(limits.admission.admitUpgrade(ip: "a", policyAccepted: true, nowMs: 15_000) == .admit)
    }

    @Test func handshakesCountRefusedAttemptsToo() {
        let limits = makeLimits { $0.ipHandshakes = RateLimit(count: 3, periodMs: 60_000) }
        // Three upgrades the policy refused (bad Origin, say) use up the handshake allowance.
        for _ in 0..<3 { #expect(limits.admission.admitUpgrade(ip: "a", policyAccepted: false, nowMs: 0) == .admit) }
        guard case .refuse(let refusal) = limits.admission.admitUpgrade(ip: "a", policyAccepted: true, nowMs: 0) else {
            Issue.record("the 4th handshake passed")
            return
        }
        #expect(refusal.bucket == .ipHandshakes && refusal.status == .tooManyRequests)
        // Policy-refused attempts hold no connection slot.
        #expect(limits.admission.openConnections == 0)
    }

    @Test func nodeLimitsAre503() {
        let limits = makeLimits {
            $0.globalMaxConnections = 2
            $0.globalConnections = RateLimit(count: 3, periodMs: 60_000)
        }
        let admission = limits.admission
        #expect(admission.admitUpgrade(ip: "a", policyAccepted: true, nowMs: 0) == .admit)
        #expect(admission.admitUpgrade(ip: "b", policyAccepted: true, nowMs: 0) == .admit)
        guard case .refuse(let full) = admission.admitUpgrade(ip: "c", policyAccepted: true, nowMs: 0) else {
            Issue.record("the node took a 3rd connection")
            return
        }
        #expect(full.status == .serviceUnavailable && full.bucket == .globalConcurrent)
        admission.release(ip: "a")
        admission.release(ip: "b")
        #expect(admission.admitUpgrade(ip: "c", policyAccepted: true, nowMs: 0) == .admit)
        guard case .refuse(let rate) = admission.admitUpgrade(ip: "d", policyAccepted: true, nowMs: 0) else {
            Issue.record("the node took a 4th new connection within the period")
            return
        }
        #expect(rate.status == .serviceUnavailable && rate.bucket == .globalConnections)
    }

    @Test func aBannedAddressIs403WithItsEnd() {
        let limits = makeLimits()
        let ban = limits.abuse.bans.ban(.ip("a"), reason: "test", nowMs: 0)
        #expect(limits.admission.admitUpgrade(ip: "a", policyAccepted: true, nowMs: 10) == .refuse(
            .init(status: .forbidden, error: "banned", bucket: nil, retryAfterMs: ban.untilMs - 10, untilMs: ban.untilMs)))
        #expect(limits.admission.admitUpgrade(ip: "b", policyAccepted: true, nowMs: 10) == .admit)
        let body = AdmissionControl.Refusal(status: .forbidden, error: "banned", bucket: nil, retryAfterMs: 1500, untilMs: 99).body
        #expect(body == #"{"error":"banned","retry_after_ms":1500,"until_ms":99}"#)
    }

    @Test func aConnectionFloodEndsInABan() {
        let limits = makeLimits {
            $0.ipConnections = RateLimit(count: 1, periodMs: 60_000)
            $0.abuse.closeAfter = RateLimit(count: 3, periodMs: 60_000)
            $0.abuse.banAfter = RateLimit(count: 2, periodMs: 60_000)
        }
        var statuses: [HTTPResponseStatus] = []
        for _ in 0..<8 {
            switch limits.admission.admitUpgrade(ip: "a", policyAccepted: true, nowMs: 0) {
            case .admit: statuses.append(.switchingProtocols)
            case .refuse(let refusal): statuses.append(refusal.status)
            }
        }
        // 1 admitted; refusals 1-2, 3 (a strike), 4-5, 6 (the second strike: banned); then 403.
        #expect(statuses == [.switchingProtocols] + Array(repeating: .tooManyRequests, count: 5) + [.forbidden, .forbidden])
    }
}

@Suite struct ConnectionRateGuardTests {
    func guardFor(_ limits: RateLimits, ip: String = "203.0.113.5") -> (ConnectionRateGuard, RecordingSignals) {
        let signals = RecordingSignals()
        return (ConnectionRateGuard(clientIP: ip, limits: limits, signals: signals), signals)
    }

    @Test func messagesPerConnectionAtTheirNumberWithUsage() {
        let limits = makeLimits { $0.connectionMessages = RateLimit(count: 5, periodMs: 1000) }
        let (rateGuard, signals) = guardFor(limits)
        for i in 0..<5 as Range<Int64> {
            let admission = rateGuard.admit(request("public/time"), accountID: nil, keyID: nil, nowMs: 0)
            guard case .proceed(let usage?) = admission else {
                Issue.record("request \(i + 1) refused")
                return
            }
            #expect(usage.bucket == .messages && usage.decision.cost == 1 && usage.decision.remaining == 4 - i)
            #expect(usage.decision.resetMs == (i + 1) * 200)
        }
        #expect(rateGuard.admit(request("public/time"), accountID: nil, keyID: nil, nowMs: 0) == .refused)
        #expect(signals.events.last == .error(message: "rate_limited", bucket: "messages"))
        // A second connection has its own bucket.
        let (other, _) = guardFor(limits)
        #expect(other.admit(request("public/time"), accountID: nil, keyID: nil, nowMs: 0) != .refused)
        // Usage can be turned off; charging continues.
        rateGuard.usageEnabled = false
        #expect(rateGuard.admit(request("public/time"), accountID: nil, keyID: nil, nowMs: 200) == .proceed(nil))
    }

    @Test func subscribeOperationsAtTheirNumber() {
        let limits = makeLimits { $0.connectionSubscribes = RateLimit(count: 3, periodMs: 10_000) }
        let (rateGuard, signals) = guardFor(limits)
        for _ in 0..<3 { #expect(rateGuard.admit(request("subscribe"), accountID: nil, keyID: nil, nowMs: 0) != .refused) }
        #expect(rateGuard.admit(request("unsubscribe"), accountID: nil, keyID: nil, nowMs: 0) == .refused)
        #expect(signals.events.last == .error(message: "rate_limited", bucket: "subscriptions"))
    }

    @Test func loginAttemptsPerIPAtTheirNumberAcrossConnections() {
        let limits = makeLimits { $0.ipLogins = RateLimit(count: 4, periodMs: 60_000) }
        let (first, _) = guardFor(limits, ip: "a")
        let (second, signals) = guardFor(limits, ip: "a")
        for _ in 0..<2 { #expect(first.admit(request("public/auth"), accountID: nil, keyID: nil, nowMs: 0) != .refused) }
        for _ in 0..<2 { #expect(second.admit(request("public/auth"), accountID: nil, keyID: nil, nowMs: 0) != .refused) }
        #expect(second.admit(request("public/auth"), accountID: nil, keyID: nil, nowMs: 0) == .refused)
        #expect(signals.events.last == .error(message: "rate_limited", bucket: "login"))
        let (elsewhere, _) = guardFor(limits, ip: "b")
        #expect(elsewhere.admit(request("public/auth"), accountID: nil, keyID: nil, nowMs: 0) != .refused)
    }

    @Test func accountBucketsAtTheirNumbersPerTier() {
        let limits = makeLimits({ settings in
            settings.connectionMessages = RateLimit(count: 10_000, periodMs: 1000)
            settings.tiers[.standard] = .init(
                weight: RateLimit(count: 20, periodMs: 1000), orders: RateLimit(count: 5, periodMs: 1000),
                ordersPerDay: RateLimit(count: 8, periodMs: 86_400_000), cancels: RateLimit(count: 3, periodMs: 1000))
            settings.tiers[.professional] = .init(
                weight: RateLimit(count: 20, periodMs: 1000), orders: RateLimit(count: 7, periodMs: 1000),
                ordersPerDay: RateLimit(count: 100, periodMs: 86_400_000), cancels: RateLimit(count: 3, periodMs: 1000))
        }, tiers: ["a_pro": .professional])
        let (rateGuard, signals) = guardFor(limits)
        func place(_ account: String, at now: Int64) -> ConnectionRateGuard.Admission {
            rateGuard.admit(request("private/order.place"), accountID: account, keyID: "k", nowMs: now)
        }
        for _ in 0..<5 { #expect(place("a_std", at: 0) != .refused) }
        #expect(place("a_std", at: 0) == .refused)
        #expect(signals.events.last == .error(message: "rate_limited", bucket: "orders"))
        for _ in 0..<7 { #expect(place("a_pro", at: 0) != .refused) }
        #expect(place("a_pro", at: 0) == .refused)
        // The daily bucket: 8 per day, reached a second later.
        for _ in 0..<3 { #expect(place("a_std", at: 1000) != .refused) }
        #expect(place("a_std", at: 1000) == .refused)
        #expect(signals.events.last == .error(message: "rate_limited", bucket: "orders_day"))
        // Weight: orders.open costs 5, so 4 calls use the 20.
        for _ in 0..<4 { #expect(rateGuard.admit(request("private/orders.open"), accountID: "a_w", keyID: "k", nowMs: 2000) != .refused) }
        #expect(rateGuard.admit(request("private/session.status"), accountID: "a_w", keyID: "k", nowMs: 2000) == .refused)
        #expect(signals.events.last == .error(message: "rate_limited", bucket: "weight"))
    }

    @Test func cancelsStillPassWhenOrdersMessagesAndWeightAreAllEmpty() {
        let limits = makeLimits { settings in
            settings.connectionMessages = RateLimit(count: 4, periodMs: 60_000)
            settings.abuse.closeAfter = RateLimit(count: 1000, periodMs: 60_000)
            settings.tiers[.standard] = .init(
                weight: RateLimit(count: 3, periodMs: 60_000), orders: RateLimit(count: 2, periodMs: 60_000),
                ordersPerDay: RateLimit(count: 100, periodMs: 86_400_000), cancels: RateLimit(count: 5, periodMs: 60_000))
        }
        let (rateGuard, signals) = guardFor(limits)
        // Orders until every bucket they touch is spent, and then some.
        var refused = 0
        for _ in 0..<20 where rateGuard.admit(request("private/order.place"), accountID: "a", keyID: "k", nowMs: 0) == .refused { refused += 1 }
        #expect(refused == 18)
        #expect(rateGuard.admit(request("private/orders.open"), accountID: "a", keyID: "k", nowMs: 0) == .refused)
        // Cancels have their own bucket: all 5 pass, the 6th is refused for `cancels` only.
        for method in ["private/order.cancel", "private/order.cancel_all", "private/cancel_all_after", "private/order.cancel", "private/order.cancel"] {
            guard case .proceed(let usage?) = rateGuard.admit(request(method), accountID: "a", keyID: "k", nowMs: 0) else {
                Issue.record("\(method) refused")
                return
            }
            #expect(usage.bucket == .cancels)
        }
        #expect(rateGuard.admit(request("private/order.cancel"), accountID: "a", keyID: "k", nowMs: 0) == .refused)
        #expect(signals.events.last == .error(message: "rate_limited", bucket: "cancels"))
    }

    @Test func theLadderInOrderWarnThenRefuseThenCloseThenBan() {
        let limits = makeLimits { settings in
            settings.connectionMessages = RateLimit(count: 10, periodMs: 60_000)
            settings.abuse.warningPercent = 80
            settings.abuse.closeAfter = RateLimit(count: 3, periodMs: 60_000)
            settings.abuse.banAfter = RateLimit(count: 2, periodMs: 600_000)
            settings.abuse.bans.baseMs = 30_000
        }
        var allEvents: [RecordingSignals.Event] = []
        for connection in 0..<2 {
            let (rateGuard, signals) = guardFor(limits, ip: "a")
            var outcomes: [Bool] = []
            for _ in 0..<14 { outcomes.append(rateGuard.admit(request("public/time"), accountID: nil, keyID: "k_1", nowMs: Int64(connection)) != .refused) }
            #expect(outcomes == Array(repeating: true, count: 10) + Array(repeating: false, count: 4), "connection \(connection)")
            allEvents += signals.events
            #expect(signals.events == [
                .warning("messages"),
                .error(message: "rate_limited", bucket: "messages"),
                .error(message: "rate_limited", bucket: "messages"),
                .error(message: "rate_limited", bucket: "messages"),
                .close(4008),
                .error(message: connection == 0 ? "rate_limited" : "banned", bucket: connection == 0 ? "messages" : nil),
            ])
        }
        // The second 4008 within the window banned the address and the key.
        #expect(limits.abuse.bans.active(.ip("a"), nowMs: 1)?.untilMs == 30_001)
        #expect(limits.abuse.bans.active(.key("k_1"), nowMs: 1) != nil)
        // A new connection from the address is refused at the upgrade, 403; a login with the key is `banned`.
        guard case .refuse(let refusal) = limits.admission.admitUpgrade(ip: "a", policyAccepted: true, nowMs: 2) else {
            Issue.record("a banned address was admitted")
            return
        }
        #expect(refusal.status == .forbidden && refusal.untilMs == 30_001)
        let (elsewhere, signals) = guardFor(limits, ip: "b")
        let login = request("public/auth", params: JSONObject([("key_id", .string("k_1"))]))
        #expect(elsewhere.admit(login, accountID: nil, keyID: nil, nowMs: 2) == .refused)
        #expect(signals.events == [.error(message: "banned", bucket: nil)])
        // A ban lifted by an operator ends at once.
        #expect(limits.abuse.lift(.key("k_1"), nowMs: 3))
        #expect(elsewhere.admit(login, accountID: nil, keyID: nil, nowMs: 3) != .refused)
    }

    @Test func aSecondBanLastsTwiceAsLong() {
        let limits = makeLimits { settings in
            settings.connectionMessages = RateLimit(count: 1, periodMs: 60_000)
            settings.abuse.closeAfter = RateLimit(count: 2, periodMs: 60_000)
            settings.abuse.banAfter = RateLimit(count: 1, periodMs: 600_000)
            settings.abuse.bans.baseMs = 1_000
        }
        var untils: [Int64] = []
        for now in [0, 10_000] as [Int64] {
            let (rateGuard, _) = guardFor(limits, ip: "x-\(now)")
            for _ in 0..<3 { _ = rateGuard.admit(request("public/time"), accountID: nil, keyID: "k_2", nowMs: now) }
            untils.append(limits.abuse.bans.active(.key("k_2"), nowMs: now)?.untilMs ?? -1)
        }
        #expect(untils == [1_000, 12_000])
    }

    @Test func warningIsSentOncePerExcursionAboveTheMark() {
        let limits = makeLimits { $0.connectionMessages = RateLimit(count: 10, periodMs: 1000) }
        let (rateGuard, signals) = guardFor(limits)
        for _ in 0..<9 { _ = rateGuard.admit(request("public/time"), accountID: nil, keyID: nil, nowMs: 0) }
        #expect(signals.events == [.warning("messages")])
        // Drained below 80 %, then above it again: a second warning.
        _ = rateGuard.admit(request("public/time"), accountID: nil, keyID: nil, nowMs: 900)
        for _ in 0..<8 { _ = rateGuard.admit(request("public/time"), accountID: nil, keyID: nil, nowMs: 900) }
        #expect(signals.events == [.warning("messages"), .warning("messages")])
    }

    @Test func sessionStatusListsEveryBucket() {
        let limits = makeLimits()
        let (rateGuard, _) = guardFor(limits)
        _ = rateGuard.admit(request("private/order.place"), accountID: "a", keyID: "k", nowMs: 0)
        let rows = rateGuard.status(accountID: "a", nowMs: 0)
        #expect(rows.map(\.bucket) == [.messages, .subscriptions, .login, .weight, .orders, .ordersDay, .cancels])
        #expect(rows.first { $0.bucket == .orders }?.decision.remaining == 9)
    }
}

@Suite struct RateLimitConfigurationTests {
    @Test func defaultsAndOverrides() throws {
        let defaults = try GatewayConfiguration.load(file: nil, environment: [:])
        #expect(defaults.rateLimits == RateLimitSettings())
        let configured = try GatewayConfiguration.load(
            file: nil,
            environment: ["BULWARK_RATE_TIER_PROFESSIONAL_ORDERS": "75/s", "BULWARK_RATE_IP_MAX_CONNECTIONS": "7", "BULWARK_ABUSE_CLOSE_AFTER": "5/30s"])
        #expect(configured.rateLimits.tiers[.professional]?.orders == RateLimit(count: 75, periodMs: 1000))
        #expect(configured.rateLimits.ipMaxConnections == 7)
        #expect(configured.rateLimits.abuse.closeAfter == RateLimit(count: 5, periodMs: 30_000))
    }

    @Test func malformedOrUnsafeValuesAreStartupErrors() {
        for (name, value) in [
            ("BULWARK_RATE_CONNECTION_MESSAGES", "fast"), ("BULWARK_RATE_IP_MAX_CONNECTIONS", "0"),
            ("BULWARK_ABUSE_CLOSE_AFTER", "1/10s"), ("BULWARK_ABUSE_WARNING_PERCENT", "100"),
            ("BULWARK_ABUSE_BAN_MAX_MS", "10"),
        ] {
            #expect(throws: ConfigurationError.self, "\(name)=\(value)") {
                try GatewayConfiguration.load(file: nil, environment: [name: value])
            }
        }
    }
}
