import BulwarkCore
import Testing

/// A small seeded generator (SplitMix64) so the property tests are reproducible.
private struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct RiskEngineTests {
    let policy = RiskPolicy.standard

    private func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-12) -> Bool { abs(a - b) <= tolerance }

    /// Random signals, including the edges: negative counts, NaN and infinite z-scores, negative MFA ages.
    private func randomSignals(_ rng: inout SplitMix64) -> RiskSignals {
        func count() -> Int {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: -Int.random(in: 1...5, using: &rng)
            case 1: Int.random(in: 100...1_000_000, using: &rng)
            default: Int.random(in: 0...12, using: &rng)
            }
        }
        func z() -> Double {
            switch Int.random(in: 0..<12, using: &rng) {
            case 0: .nan
            case 1: .infinity
            case 2: -.infinity
            case 3: Double.random(in: 10...1e9, using: &rng)
            default: Double.random(in: -5...12, using: &rng)
            }
        }
        func mfa() -> Int64? {
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: nil
            case 1: -Int64.random(in: 1...1_000, using: &rng)
            default: Int64.random(in: 0...2_000_000, using: &rng)
            }
        }
        return RiskSignals(
            newNetwork: Bool.random(using: &rng), newIP: Bool.random(using: &rng),
            recentFailedLoginsAccount: count(), recentFailedLoginsIP: count(),
            requestRateDeviation: z(), orderNotionalDeviation: z(), concurrentNetworks: count(),
            privilege: Privilege.allCases.randomElement(using: &rng)!, msSinceMFA: mfa())
    }

    // MARK: The documented worked example (docs/risk-engine.md)

    @Test func workedExample() {
        // A trading session from a new /24 (so a new address too), 2 failed logins on the account
        // in the look-back window, request rate z = 4, no other session, no MFA.
        let signals = RiskSignals(
            newNetwork: true, newIP: true, recentFailedLoginsAccount: 2, requestRateDeviation: 4, privilege: .trade)
        let assessment = policy.assess(signals)
        #expect(assessment.contributions.map(\.factor) == [.newNetwork, .failedLoginsAccount, .requestRate, .newIP, .privilege])
        let values = assessment.contributions.map(\.value)
        #expect(close(values[0], 0.35))
        #expect(close(values[1], 0.243291440483704))  // 0.50 · (1 − e^(−2/3))
        #expect(close(values[2], 0.225))  // 0.45 · (4 − 2)/(6 − 2)
        #expect(close(values[3], 0.10))
        #expect(close(values[4], 0.05))  // trade standing
        #expect(close(assessment.rawScore, 0.6740808939878343))
        #expect(assessment.mfaDiscount == 0)
        #expect(close(assessment.score, 0.6740808939878343))
        #expect(assessment.level == .high)
        #expect(policy.decision(for: assessment) == .stepUpForPrivileged)
        let timeouts = policy.timeouts(baseIdleMs: 15 * 60_000, baseAbsoluteMs: 8 * 3_600_000, score: assessment.score)
        #expect(timeouts.idleMs == 95_600 && timeouts.absoluteMs == 3_059_229)

        // The user passes MFA; five minutes later a third of the score is still discounted.
        var afterMFA = signals
        afterMFA.msSinceMFA = 5 * 60_000
        let relieved = policy.assess(afterMFA)
        #expect(close(relieved.mfaDiscount, 1.0 / 3.0))
        #expect(close(relieved.score, 0.4493872626585562))
        #expect(relieved.level == .elevated && policy.decision(for: relieved) == .allow)
        let longer = policy.timeouts(baseIdleMs: 15 * 60_000, baseAbsoluteMs: 8 * 3_600_000, score: relieved.score)
        #expect(longer.idleMs == 272_856 && longer.absoluteMs == 8_731_422)

        // Ten minutes after MFA the discount is 1/6: step-up again.
        afterMFA.msSinceMFA = 10 * 60_000
        let fading = policy.assess(afterMFA)
        #expect(close(fading.score, 0.6740808939878343 * 5 / 6))
        #expect(policy.decision(for: fading) == .stepUpForPrivileged)
    }

    // MARK: Properties

    @Test func scoreStaysInTheUnitIntervalAndAgreesWithItself() {
        var rng = SplitMix64(seed: 0xB01_3A4C)
        for _ in 0..<20_000 {
            let signals = randomSignals(&rng)
            let a = policy.assess(signals)
            #expect((0...1).contains(a.score) && (0...1).contains(a.rawScore), "\(signals)")
            #expect(a.score <= a.rawScore)
            #expect((0...policy.mfaMaxDiscount).contains(a.mfaDiscount))
            #expect(a.level == policy.level(for: a.score))
            #expect((a.level == .critical) == (policy.decision(for: a) == .terminate))
            #expect((a.level == .high) == (policy.decision(for: a) == .stepUpForPrivileged))
            // Contributions: positive, at most 1, largest first, and they reproduce the raw score.
            #expect(a.contributions.allSatisfy { $0.value > 0 && $0.value <= 1 })
            #expect(zip(a.contributions, a.contributions.dropFirst()).allSatisfy { $0.value >= $1.value })
            #expect(close(1 - a.contributions.reduce(1) { $0 * (1 - $1.value) }, a.rawScore))
            #expect(Set(a.contributions.map(\.factor)).count == a.contributions.count)
        }
    }

    /// Each way of making a signal worse, applied to arbitrary signals.
    private static let worsenings: [(String, @Sendable (inout RiskSignals, inout SplitMix64) -> Void)] = [
        ("new network", { s, _ in s.newNetwork = true }),
        ("new IP", { s, _ in s.newIP = true }),
        ("failed logins (account)", { s, r in s.recentFailedLoginsAccount = max(s.recentFailedLoginsAccount, 0) + Int.random(in: 1...5, using: &r) }),
        ("failed logins (IP)", { s, r in s.recentFailedLoginsIP = max(s.recentFailedLoginsIP, 0) + Int.random(in: 1...5, using: &r) }),
        ("request rate", { s, r in s.requestRateDeviation = (s.requestRateDeviation.isNaN ? 0 : s.requestRateDeviation) + Double.random(in: 0.01...3, using: &r) }),
        ("order notional", { s, r in s.orderNotionalDeviation = (s.orderNotionalDeviation.isNaN ? 0 : s.orderNotionalDeviation) + Double.random(in: 0.01...3, using: &r) }),
        ("concurrent networks", { s, r in s.concurrentNetworks = max(s.concurrentNetworks, 1) + Int.random(in: 1...3, using: &r) }),
        ("privilege", { s, r in s.privilege = Privilege(rawValue: Int.random(in: s.privilege.rawValue...Privilege.account.rawValue, using: &r))! }),
        ("older MFA", { s, r in s.msSinceMFA = s.msSinceMFA.map { $0 + Int64.random(in: 1...600_000, using: &r) } }),
        ("no MFA", { s, _ in s.msSinceMFA = nil }),
    ]

    @Test func scoreIsMonotoneInEverySignal() {
        var rng = SplitMix64(seed: 42)
        for (name, worsen) in Self.worsenings {
            for _ in 0..<3_000 {
                // Start from valid signals. NaN z-scores and negative MFA ages are invalid input,
                // scored like "unknown" (no evidence, no discount), so they sit outside the order.
                var before = randomSignals(&rng)
                if before.requestRateDeviation.isNaN { before.requestRateDeviation = 0 }
                if before.orderNotionalDeviation.isNaN { before.orderNotionalDeviation = 0 }
                if let age = before.msSinceMFA, age < 0 { before.msSinceMFA = -age }
                var after = before
                worsen(&after, &rng)
                let (b, a) = (policy.assess(before), policy.assess(after))
                #expect(a.score >= b.score, "\(name): \(before) → \(after)")
                #expect(a.rawScore >= b.rawScore, "\(name)")
            }
        }
    }

    @Test func eachSignalMovesTheScoreFromACalmSession() {
        let calm = policy.assess(RiskSignals(privilege: .trade)).score
        let worse: [RiskSignals] = [
            RiskSignals(newNetwork: true, privilege: .trade),
            RiskSignals(newIP: true, privilege: .trade),
            RiskSignals(recentFailedLoginsAccount: 1, privilege: .trade),
            RiskSignals(recentFailedLoginsIP: 1, privilege: .trade),
            RiskSignals(requestRateDeviation: 2.5, privilege: .trade),
            RiskSignals(orderNotionalDeviation: 3.5, privilege: .trade),
            RiskSignals(concurrentNetworks: 2, privilege: .trade),
            RiskSignals(privilege: .account),
        ]
        for signals in worse {
            #expect(policy.assess(signals).score > calm, "\(signals)")
        }
        // Below-mean rates and orders are no evidence.
        #expect(policy.assess(RiskSignals(requestRateDeviation: -9, orderNotionalDeviation: -9, privilege: .trade)).score == calm)
    }

    // MARK: Thresholds

    @Test func noSingleSoftSignalKills() {
        let saturated: [RiskSignals] = [
            RiskSignals(newNetwork: true, newIP: true),
            RiskSignals(recentFailedLoginsAccount: .max),
            RiskSignals(recentFailedLoginsIP: .max),
            RiskSignals(requestRateDeviation: .infinity),
            RiskSignals(orderNotionalDeviation: .infinity),
            RiskSignals(concurrentNetworks: .max),
        ]
        for var signals in saturated {
            for privilege in Privilege.allCases {
                signals.privilege = privilege
                let assessment = policy.assess(signals)
                #expect(assessment.score < policy.killThreshold, "\(signals)")
                #expect(policy.decision(for: assessment) != .terminate)
            }
        }
        #expect(policy.configurationProblems.isEmpty)
    }

    @Test func singleSignalTableInTheDocs() {
        // docs/risk-engine.md, "Each soft signal on its own": read, trade, account.
        let table: [(RiskSignals, [Double])] = [
            (RiskSignals(newNetwork: true, newIP: true), [0.298, 0.444, 0.503]),
            (RiskSignals(recentFailedLoginsAccount: 1_000), [0.350, 0.525, 0.575]),
            (RiskSignals(recentFailedLoginsIP: 1_000), [0.210, 0.335, 0.405]),
            (RiskSignals(requestRateDeviation: 100), [0.315, 0.478, 0.532]),
            (RiskSignals(orderNotionalDeviation: 100), [0.315, 0.478, 0.532]),
            (RiskSignals(concurrentNetworks: 1_000), [0.280, 0.430, 0.490]),
        ]
        for (base, expected) in table {
            for (privilege, value) in zip(Privilege.allCases, expected) {
                var signals = base
                signals.privilege = privilege
                #expect(close(policy.assess(signals).score, value, 0.0005), "\(signals)")
            }
        }
    }

    @Test func newNetworkWithFailedLoginsAndARateSpikeNeedsStepUp() {
        let signals = RiskSignals(
            newNetwork: true, newIP: true, recentFailedLoginsAccount: 3, requestRateDeviation: 5, privilege: .trade)
        let assessment = policy.assess(signals)
        #expect(assessment.score >= policy.stepUpThreshold && assessment.score < policy.killThreshold)
        #expect(policy.decision(for: assessment) == .stepUpForPrivileged)
        // Each of the three alone is allowed for a trading session.
        for single in [
            RiskSignals(newNetwork: true, newIP: true, privilege: .trade),
            RiskSignals(recentFailedLoginsAccount: 3, privilege: .trade),
            RiskSignals(requestRateDeviation: 5, privilege: .trade),
        ] {
            #expect(policy.decision(for: policy.assess(single)) == .allow, "\(single)")
        }
    }

    @Test func aStrongerCombinationKills() {
        let signals = RiskSignals(
            newNetwork: true, newIP: true, recentFailedLoginsAccount: 3, recentFailedLoginsIP: 5,
            requestRateDeviation: 8, concurrentNetworks: 3, privilege: .trade)
        let assessment = policy.assess(signals)
        #expect(assessment.score >= policy.killThreshold)
        #expect(assessment.level == .critical && policy.decision(for: assessment) == .terminate)
        // The same evidence against a read-only session is only high: less is at stake.
        var readOnly = signals
        readOnly.privilege = .read
        #expect(policy.assess(readOnly).level == .high)
    }

    @Test func levelsFollowTheThresholds() {
        #expect(policy.level(for: 0) == .low)
        #expect(policy.level(for: 0.2499) == .low)
        #expect(policy.level(for: 0.25) == .elevated)
        #expect(policy.level(for: 0.5) == .high)
        #expect(policy.level(for: 0.8499) == .high)
        #expect(policy.level(for: 0.85) == .critical)
        #expect(policy.level(for: 1) == .critical)
        #expect(policy.level(for: .nan) == .critical)
        #expect(policy.decision(forScore: .nan) == .terminate)
        #expect(policy.decision(forScore: 0.4999) == .allow)
        #expect(RiskLevel.low < .elevated && RiskLevel.elevated < .high && RiskLevel.high < .critical)
        #expect(policy.assess(RiskSignals()).score == 0 && policy.assess(RiskSignals()).contributions.isEmpty)
    }

    // MARK: MFA and privilege

    @Test func recentMFADiscountsTheScoreAndFades() {
        let risky = RiskSignals(
            newNetwork: true, newIP: true, recentFailedLoginsAccount: 3, recentFailedLoginsIP: 5,
            requestRateDeviation: 8, concurrentNetworks: 3, privilege: .trade)
        let raw = policy.assess(risky).score
        func score(mfaAgo: Int64?) -> Double {
            var signals = risky
            signals.msSinceMFA = mfaAgo
            return policy.assess(signals).score
        }
        #expect(close(score(mfaAgo: 0), raw * 0.5))  // just verified: half
        #expect(close(score(mfaAgo: 450_000), raw * 0.75))  // half the 15-minute window
        #expect(score(mfaAgo: 900_000) == raw)  // window over
        #expect(score(mfaAgo: 86_400_000) == raw)
        #expect(score(mfaAgo: -1) == raw)  // a clock error buys nothing
        #expect(score(mfaAgo: nil) == raw)
        // A fresh verification lifts the step-up; as it ages, step-up comes back, then the kill.
        #expect(policy.decision(forScore: score(mfaAgo: 0)) == .allow)
        #expect(policy.decision(forScore: score(mfaAgo: 600_000)) == .stepUpForPrivileged)
        #expect(policy.decision(forScore: score(mfaAgo: 890_000)) == .terminate)
        #expect(policy.mfaDiscount(msSinceMFA: 0) == 0.5 && policy.mfaDiscount(msSinceMFA: nil) == 0)
    }

    @Test func privilegeScalesTheImpact() {
        let evidence = RiskSignals(newNetwork: true, recentFailedLoginsAccount: 2)
        var scores: [Double] = []
        for privilege in Privilege.allCases {
            var signals = evidence
            signals.privilege = privilege
            scores.append(policy.assess(signals).score)
        }
        #expect(scores[0] < scores[1] && scores[1] < scores[2])
        // A calm account-admin session still carries its standing risk: shorter timeouts.
        let calmAdmin = policy.assess(RiskSignals(privilege: .account))
        #expect(close(calmAdmin.score, 0.15) && calmAdmin.contributions == [RiskContribution(factor: .privilege, value: 0.15)])
        #expect(close(policy.timeoutFactor(score: calmAdmin.score), 0.7225))  // 0.85²
    }

    @Test func privilegeFromScopes() {
        #expect(Privilege.of([Scope]()) == .read)
        #expect(Privilege.of([.read]) == .read)
        #expect(Privilege.of([.read, .cancel]) == .trade)
        #expect(Privilege.of(Set([.trade])) == .trade)
        #expect(Privilege.of([.read, .trade, .cancel, .account]) == .account)
        #expect(Privilege.of([.account]) == .account)
    }

    // MARK: Timeouts

    @Test func timeoutsShrinkWithTheScoreWithinFloorsAndBase() {
        let bases: [(Int64, Int64)] = [(900_000, 28_800_000), (30_000, 300_000), (60_000, 600_000), (0, 0), (Int64.max, Int64.max)]
        for (idleBase, absoluteBase) in bases {
            var previous = (idleMs: Int64.max, absoluteMs: Int64.max)
            for step in 0...1_000 {
                let score = Double(step) / 1_000
                let t = policy.timeouts(baseIdleMs: idleBase, baseAbsoluteMs: absoluteBase, score: score)
                #expect(t.idleMs <= previous.idleMs && t.absoluteMs <= previous.absoluteMs)
                #expect(t.idleMs <= idleBase && t.absoluteMs <= absoluteBase)
                #expect(t.idleMs >= min(idleBase, policy.idleFloorMs) && t.absoluteMs >= min(absoluteBase, policy.absoluteFloorMs))
                previous = t
            }
        }
        let atZero = policy.timeouts(baseIdleMs: 900_000, baseAbsoluteMs: 28_800_000, score: 0)
        #expect(atZero.idleMs == 900_000 && atZero.absoluteMs == 28_800_000)
        let atHalf = policy.timeouts(baseIdleMs: 900_000, baseAbsoluteMs: 28_800_000, score: 0.5)
        #expect(atHalf.idleMs == 225_000 && atHalf.absoluteMs == 7_200_000)  // (1 − 0.5)² = 1/4
        for score in [0.9, 1, 7, .infinity, .nan] {
            let t = policy.timeouts(baseIdleMs: 900_000, baseAbsoluteMs: 28_800_000, score: score)
            #expect(t.idleMs == 60_000 && t.absoluteMs == 600_000, "\(score)")
        }
        let negative = policy.timeouts(baseIdleMs: 900_000, baseAbsoluteMs: 28_800_000, score: -3)
        #expect(negative.idleMs == 900_000 && negative.absoluteMs == 28_800_000)
        // A base already below the floor is kept, never raised.
        let short = policy.timeouts(baseIdleMs: 30_000, baseAbsoluteMs: 120_000, score: 0.99)
        #expect(short.idleMs == 30_000 && short.absoluteMs == 120_000)
    }

    // MARK: Validation

    @Test func configurationProblemsAreReported() {
        var loud = RiskPolicy()
        loud.weights.failedLoginsAccount = 0.9
        #expect(loud.configurationProblems == ["failed_logins_account alone reaches the kill threshold (0.915)"])
        var inverted = RiskPolicy()
        inverted.stepUpThreshold = 0.9
        #expect(inverted.configurationProblems == ["thresholds must satisfy 0 < elevated < step-up < kill <= 1"])
        var broken = RiskPolicy()
        broken.weights.newIP = 1.5
        broken.requestRate = .init(start: 4, full: 4)
        broken.mfaWindowMs = 0
        #expect(broken.configurationProblems.count == 3)
    }
}
