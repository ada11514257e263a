#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a session's scopes let it do, from least to most harmful in an attacker's hands.
public enum Privilege: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    /// Market data, balances, orders and fills: a leak, but no money moves.
    case read
    /// Placing or cancelling orders (`trade`, `cancel`): can lose money on the market.
    case trade
    /// Managing the account itself (`account`): keys, sessions, settings.
    case account

    /// The highest privilege among `scopes`; `.read` when there are none.
    public static func of(_ scopes: some Sequence<Scope>) -> Privilege {
        scopes.reduce(.read) { highest, scope in
            let privilege: Privilege =
                switch scope {
                case .read: .read
                case .trade, .cancel: .trade
                case .account: .account
                }
            return max(highest, privilege)
        }
    }

    public static func < (lhs: Privilege, rhs: Privilege) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .read: "read"
        case .trade: "trade"
        case .account: "account"
        }
    }
}

/// Everything the risk engine knows about a session at one moment. Each field defaults to "no
/// evidence", so a caller sets only what it measured. The gateway rebuilds this whenever
/// something changes (login, a request window closing, an order, another session appearing,
/// MFA) and re-assesses: the score follows the session, not just the login.
public struct RiskSignals: Sendable, Equatable {
    /// First time this credential is seen from this /24 (IPv4) or /48 (IPv6); see `NetworkPrefix`.
    public var newNetwork: Bool
    /// First time from this exact address (weaker than `newNetwork`, which implies it).
    public var newIP: Bool
    /// Failed logins for the account within the look-back window.
    public var recentFailedLoginsAccount: Int
    /// Failed logins from the client's address within the look-back window, any account
    /// (credential stuffing shows up here first).
    public var recentFailedLoginsIP: Int
    /// z-score of the current request rate against the account's baseline
    /// (`EWMABaseline.deviation(of:)`); 0 when unknown. Only values above the mean count.
    public var requestRateDeviation: Double
    /// z-score of the latest order notional against the account's history; 0 when unknown.
    public var orderNotionalDeviation: Double
    /// Distinct networks among the account's live sessions, this one included (1: only this one).
    public var concurrentNetworks: Int
    /// What the session's scopes allow (`Privilege.of(_:)`).
    public var privilege: Privilege
    /// Milliseconds since MFA was last verified in this session; nil when it never was. A negative
    /// age (a clock error) is treated like nil.
    public var msSinceMFA: Int64?

    public init(
        newNetwork: Bool = false, newIP: Bool = false, recentFailedLoginsAccount: Int = 0,
        recentFailedLoginsIP: Int = 0, requestRateDeviation: Double = 0, orderNotionalDeviation: Double = 0,
        concurrentNetworks: Int = 1, privilege: Privilege = .read, msSinceMFA: Int64? = nil
    ) {
        self.newNetwork = newNetwork
        self.newIP = newIP
        self.recentFailedLoginsAccount = recentFailedLoginsAccount
        self.recentFailedLoginsIP = recentFailedLoginsIP
        self.requestRateDeviation = requestRateDeviation
        self.orderNotionalDeviation = orderNotionalDeviation
        self.concurrentNetworks = concurrentNetworks
        self.privilege = privilege
        self.msSinceMFA = msSinceMFA
    }
}

/// The named terms of the score, as reported to operators and in `session.status`.
public enum RiskFactor: String, Sendable, CaseIterable {
    case newNetwork = "new_network"
    case newIP = "new_ip"
    case failedLoginsAccount = "failed_logins_account"
    case failedLoginsIP = "failed_logins_ip"
    case requestRate = "request_rate"
    case orderNotional = "order_notional"
    case concurrentNetworks = "concurrent_networks"
    case privilege = "privilege"
}

/// One factor's evidence `p` in [0, 1]; the raw score is the noisy-OR of all of them.
public struct RiskContribution: Sendable, Equatable {
    public let factor: RiskFactor
    public let value: Double

    public init(factor: RiskFactor, value: Double) {
        self.factor = factor
        self.value = value
    }
}

/// Coarse bands of the score: `high` starts at the step-up threshold, `critical` at the kill
/// threshold, so the level always agrees with `RiskPolicy.decision(for:)`.
public enum RiskLevel: String, Sendable, Comparable, CaseIterable {
    case low
    case elevated
    case high
    case critical

    private var rank: Int {
        switch self {
        case .low: 0
        case .elevated: 1
        case .high: 2
        case .critical: 3
        }
    }

    public static func < (lhs: RiskLevel, rhs: RiskLevel) -> Bool { lhs.rank < rhs.rank }
}

/// The result of `RiskPolicy.assess(_:)`, with its explanation.
public struct RiskAssessment: Sendable, Equatable {
    /// Final score in [0, 1]: `rawScore × (1 − mfaDiscount)`.
    public let score: Double
    public let level: RiskLevel
    /// Noisy-OR of the contributions, before the MFA discount.
    public let rawScore: Double
    /// Fraction taken off the raw score for a recent MFA verification, in [0, `mfaMaxDiscount`].
    public let mfaDiscount: Double
    /// Factors with non-zero evidence, largest first: why the score is what it is.
    public let contributions: [RiskContribution]

    public init(score: Double, level: RiskLevel, rawScore: Double, mfaDiscount: Double, contributions: [RiskContribution]) {
        self.score = score
        self.level = level
        self.rawScore = rawScore
        self.mfaDiscount = mfaDiscount
        self.contributions = contributions
    }
}

/// What the gateway does with a session at a given score.
public enum RiskDecision: String, Sendable, Equatable {
    /// Carry on (timeouts still shrink with the score).
    case allow
    /// Privileged actions answer `mfa_required` until an MFA verification brings the score down.
    case stepUpForPrivileged
    /// End the session and raise a security event.
    case terminate
}

/// The session risk formula and what follows from the score. All defaults are documented in
/// `docs/risk-engine.md`; `configurationProblems` checks a customised policy.
///
/// **Score.** Each factor `i` yields evidence `p_i = impact(privilege) · w_i · e_i`, where `w_i`
/// is the factor's weight (its ceiling) and `e_i` in [0, 1] is a saturating function of the signal:
///
/// - new network, new IP: `e = 1` when set, else 0;
/// - failed logins (account, IP): `e = 1 − exp(−n/τ)`;
/// - concurrent networks: `e = 1 − exp(−(n − 1)/τ)` (other networks beyond this session's);
/// - request rate, order notional: `e = clamp((z − z₀)/(z₁ − z₀), 0, 1)`, only above the mean;
///
/// plus a standing term for the privilege itself, `p = standing(privilege)`. They combine as a
/// noisy-OR, `raw = 1 − Π(1 − p_i)`: in [0, 1] and non-decreasing in every signal. One factor
/// alone reaches at most `1 − (1 − w_i)(1 − standing)` (0.575 with the defaults), below the kill
/// threshold, while several independent ones multiply their "all is well" odds and cross it.
///
/// **MFA.** A verification `t` ms ago takes `d = mfaMaxDiscount · max(0, 1 − t/mfaWindowMs)` off:
/// `score = raw · (1 − d)`. A fresh verification halves the score (by default), and the relief
/// fades linearly over the window, so step-up is asked again when the session keeps looking odd.
///
/// **Policy.** Timeouts become `base · (1 − score)^k`, clamped to the floors and never above base;
/// `score ≥ stepUpThreshold` asks for MFA before privileged actions; `score ≥ killThreshold` ends
/// the session.
public struct RiskPolicy: Sendable, Equatable {
    /// Ceiling of each factor's evidence (before the privilege impact factor).
    public struct Weights: Sendable, Equatable {
        public var newNetwork = 0.35
        public var newIP = 0.10
        public var failedLoginsAccount = 0.50
        public var failedLoginsIP = 0.30
        public var requestRate = 0.45
        public var orderNotional = 0.45
        public var concurrentNetworks = 0.40

        public init() {}
    }

    /// Evidence from a count: `1 − exp(−n/scale)`; reaches 63 % at `n = scale`, 95 % at 3·scale.
    public struct CountSaturation: Sendable, Equatable {
        public var scale: Double

        public init(scale: Double) { self.scale = scale }

        public func evidence(_ count: Int) -> Double {
            guard count > 0, scale > 0 else { return count > 0 ? 1 : 0 }
            return 1 - exp(-Double(count) / scale)
        }
    }

    /// Evidence from a z-score: 0 up to `start`, rising linearly to 1 at `full`. Below-mean values
    /// (a quieter account) are no evidence; +∞ is full evidence; NaN is treated as unknown (0).
    public struct ZScoreRamp: Sendable, Equatable {
        public var start: Double
        public var full: Double

        public init(start: Double, full: Double) {
            self.start = start
            self.full = full
        }

        public func evidence(_ z: Double) -> Double {
            guard !z.isNaN, z > start else { return 0 }
            guard full > start else { return 1 }
            return min(1, (z - start) / (full - start))
        }
    }

    /// How a privilege level weighs in: `impact` scales every other factor's evidence (a leaked
    /// read-only key does less harm, so the same evidence counts for less), `standing` is
    /// evidence of its own (a powerful session deserves shorter timeouts even when all is calm).
    public struct PrivilegeProfile: Sendable, Equatable {
        public var impact: Double
        public var standing: Double

        public init(impact: Double, standing: Double) {
            self.impact = impact
            self.standing = standing
        }
    }

    public var weights = Weights()
    public var failedLoginsAccount = CountSaturation(scale: 3)
    public var failedLoginsIP = CountSaturation(scale: 5)
    public var concurrentNetworks = CountSaturation(scale: 2)
    public var requestRate = ZScoreRamp(start: 2, full: 6)
    /// Wider than the rate ramp: order sizes are heavy-tailed, so a 3σ order is not yet unusual.
    public var orderNotional = ZScoreRamp(start: 3, full: 9)
    public var readProfile = PrivilegeProfile(impact: 0.7, standing: 0)
    public var tradeProfile = PrivilegeProfile(impact: 1.0, standing: 0.05)
    public var accountProfile = PrivilegeProfile(impact: 1.0, standing: 0.15)

    /// Largest fraction of the score a just-verified MFA takes off.
    public var mfaMaxDiscount = 0.5
    /// How long an MFA verification keeps reducing the score (default 15 min), fading linearly.
    public var mfaWindowMs: Int64 = 15 * 60_000

    /// Scores from here are `elevated`.
    public var elevatedThreshold = 0.25
    /// Scores from here are `high`: privileged actions need MFA.
    public var stepUpThreshold = 0.5
    /// Scores from here are `critical`: the session ends.
    public var killThreshold = 0.85

    /// `k` in `base · (1 − score)^k`: 2 keeps timeouts near base for low scores and shrinks them
    /// fast as the score approaches the kill threshold.
    public var timeoutExponent = 2.0
    /// The idle timeout never shrinks below this (default 60 s), or an active user could not finish a step-up.
    public var idleFloorMs: Int64 = 60_000
    /// The absolute lifetime never shrinks below this (default 10 min).
    public var absoluteFloorMs: Int64 = 10 * 60_000

    public init() {}

    /// The defaults described in `docs/risk-engine.md`.
    public static let standard = RiskPolicy()

    public func profile(for privilege: Privilege) -> PrivilegeProfile {
        switch privilege {
        case .read: readProfile
        case .trade: tradeProfile
        case .account: accountProfile
        }
    }

    // MARK: Score

    public func assess(_ signals: RiskSignals) -> RiskAssessment {
        let profile = profile(for: signals.privilege)
        let impact = Self.unit(profile.impact)
        var contributions: [RiskContribution] = []
        func add(_ factor: RiskFactor, weight: Double, evidence: Double, scaled: Bool = true) {
            let value = Self.unit((scaled ? impact : 1) * Self.unit(weight) * Self.unit(evidence))
            if value > 0 { contributions.append(RiskContribution(factor: factor, value: value)) }
        }
        add(.newNetwork, weight: weights.newNetwork, evidence: signals.newNetwork ? 1 : 0)
        add(.newIP, weight: weights.newIP, evidence: signals.newIP ? 1 : 0)
        add(.failedLoginsAccount, weight: weights.failedLoginsAccount,
            evidence: failedLoginsAccount.evidence(signals.recentFailedLoginsAccount))
        add(.failedLoginsIP, weight: weights.failedLoginsIP, evidence: failedLoginsIP.evidence(signals.recentFailedLoginsIP))
        add(.requestRate, weight: weights.requestRate, evidence: requestRate.evidence(signals.requestRateDeviation))
        add(.orderNotional, weight: weights.orderNotional, evidence: orderNotional.evidence(signals.orderNotionalDeviation))
        let otherNetworks = signals.concurrentNetworks > 1 ? signals.concurrentNetworks - 1 : 0
        add(.concurrentNetworks, weight: weights.concurrentNetworks, evidence: concurrentNetworks.evidence(otherNetworks))
        add(.privilege, weight: 1, evidence: profile.standing, scaled: false)

        let rawScore = Self.unit(1 - contributions.reduce(1.0) { $0 * (1 - $1.value) })
        let discount = mfaDiscount(msSinceMFA: signals.msSinceMFA)
        let score = Self.unit(rawScore * (1 - discount))
        // Largest first; equal values keep the factors' declaration order, so output is stable.
        let order = Dictionary(uniqueKeysWithValues: RiskFactor.allCases.enumerated().map { ($1, $0) })
        contributions.sort { $0.value != $1.value ? $0.value > $1.value : order[$0.factor]! < order[$1.factor]! }
        return RiskAssessment(
            score: score, level: level(for: score), rawScore: rawScore, mfaDiscount: discount, contributions: contributions)
    }

    /// Fraction of the score a verification `msSinceMFA` ago takes off. A negative age (a clock
    /// error) earns nothing: a bug must not buy a discount.
    public func mfaDiscount(msSinceMFA: Int64?) -> Double {
        guard let age = msSinceMFA, age >= 0, mfaWindowMs > 0, age < mfaWindowMs else { return 0 }
        return Self.unit(mfaMaxDiscount) * (1 - Double(age) / Double(mfaWindowMs))
    }

    /// The band of `score`; NaN counts as critical (fail closed).
    public func level(for score: Double) -> RiskLevel {
        if score.isNaN || score >= killThreshold { return .critical }
        if score >= stepUpThreshold { return .high }
        if score >= elevatedThreshold { return .elevated }
        return .low
    }

    // MARK: Consequences

    public func decision(for assessment: RiskAssessment) -> RiskDecision { decision(forScore: assessment.score) }

    /// `terminate` from the kill threshold, `stepUpForPrivileged` from the step-up threshold;
    /// NaN terminates (fail closed).
    public func decision(forScore score: Double) -> RiskDecision {
        if score.isNaN || score >= killThreshold { return .terminate }
        if score >= stepUpThreshold { return .stepUpForPrivileged }
        return .allow
    }

    /// Idle and absolute timeouts for a session at `score`: `base · (1 − score)^k`, rounded down,
    /// never below the floor and never above base (a base shorter than the floor is kept as is).
    public func timeouts(baseIdleMs: Int64, baseAbsoluteMs: Int64, score: Double) -> (idleMs: Int64, absoluteMs: Int64) {
        let factor = timeoutFactor(score: score)
        return (
            Self.shrink(baseIdleMs, by: factor, floor: idleFloorMs),
            Self.shrink(baseAbsoluteMs, by: factor, floor: absoluteFloorMs)
        )
    }

    /// `(1 − score)^k` in [0, 1]; a NaN score gives 0 (shortest timeouts).
    public func timeoutFactor(score: Double) -> Double {
        let clamped = score.isNaN ? 1 : Self.unit(score)
        return Self.unit(pow(1 - clamped, max(0, timeoutExponent.isNaN ? 0 : timeoutExponent)))
    }

    private static func shrink(_ base: Int64, by factor: Double, floor: Int64) -> Int64 {
        guard factor < 1 else { return base }
        let product = (Double(base) * factor).rounded(.down)
        // Double(Int64.max) rounds up to 2^63, which does not convert back; only a factor of 1 gets there.
        let scaled = product >= 9.223_372_036_854_775e18 ? base : Int64(product)
        return min(base, max(floor, scaled))
    }

    // MARK: Validation

    /// What is wrong with a customised policy, as sentences for a start-up error; empty when it is
    /// usable. Checks ranges, threshold order, and that no single soft signal (at its strongest,
    /// for the most privileged session, without MFA) reaches the kill threshold alone.
    public var configurationProblems: [String] {
        var problems: [String] = []
        let namedWeights: [(RiskFactor, Double)] = [
            (.newNetwork, weights.newNetwork), (.newIP, weights.newIP),
            (.failedLoginsAccount, weights.failedLoginsAccount), (.failedLoginsIP, weights.failedLoginsIP),
            (.requestRate, weights.requestRate), (.orderNotional, weights.orderNotional),
            (.concurrentNetworks, weights.concurrentNetworks),
        ]
        for (factor, weight) in namedWeights where !(0...1).contains(weight) {
            problems.append("weight of \(factor.rawValue) must be in [0, 1]")
        }
        for (name, profile) in [("read", readProfile), ("trade", tradeProfile), ("account", accountProfile)]
        where !(0...1).contains(profile.impact) || !(0...1).contains(profile.standing) {
            problems.append("\(name) privilege impact and standing must be in [0, 1]")
        }
        for (name, saturation) in [("failed_logins_account", failedLoginsAccount), ("failed_logins_ip", failedLoginsIP),
                                   ("concurrent_networks", concurrentNetworks)]
        where !(saturation.scale > 0 && saturation.scale.isFinite) {
            problems.append("\(name) scale must be positive")
        }
        for (name, ramp) in [("request_rate", requestRate), ("order_notional", orderNotional)]
        where !(ramp.start.isFinite && ramp.full.isFinite && ramp.full > ramp.start) {
            problems.append("\(name) ramp must rise (full > start)")
        }
        if !(0 < elevatedThreshold && elevatedThreshold < stepUpThreshold && stepUpThreshold < killThreshold && killThreshold <= 1) {
            problems.append("thresholds must satisfy 0 < elevated < step-up < kill <= 1")
        }
        if !(0...1).contains(mfaMaxDiscount) { problems.append("MFA discount must be in [0, 1]") }
        if mfaWindowMs <= 0 { problems.append("MFA window must be positive") }
        if !(timeoutExponent > 0 && timeoutExponent.isFinite) { problems.append("timeout exponent must be positive") }
        if idleFloorMs <= 0 || absoluteFloorMs <= 0 { problems.append("timeout floors must be positive") }
        if problems.isEmpty {
            for factor in Self.softSignalsAtFullStrength.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
                let alone = assess(Self.softSignalsAtFullStrength[factor]!)
                if alone.score >= killThreshold {
                    problems.append("\(factor.rawValue) alone reaches the kill threshold (\(alone.score))")
                }
            }
        }
        return problems
    }

    /// Each soft signal at saturation, alone, for an account-privileged session without MFA. A new
    /// network implies a new address, so those two travel together.
    static let softSignalsAtFullStrength: [RiskFactor: RiskSignals] = [
        .newNetwork: RiskSignals(newNetwork: true, newIP: true, privilege: .account),
        .failedLoginsAccount: RiskSignals(recentFailedLoginsAccount: 1_000_000, privilege: .account),
        .failedLoginsIP: RiskSignals(recentFailedLoginsIP: 1_000_000, privilege: .account),
        .requestRate: RiskSignals(requestRateDeviation: .infinity, privilege: .account),
        .orderNotional: RiskSignals(orderNotionalDeviation: .infinity, privilege: .account),
        .concurrentNetworks: RiskSignals(concurrentNetworks: 1_000, privilege: .account),
    ]

    /// Clamps to [0, 1]; NaN becomes 0 for evidence (callers treat NaN scores separately).
    private static func unit(_ x: Double) -> Double { x.isNaN ? 0 : min(1, max(0, x)) }
}
