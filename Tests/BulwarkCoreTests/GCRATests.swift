import BulwarkCore
import Testing

@Suite struct RateLimitParsingTests {
    @Test func parsesCountsAndPeriods() {
        #expect(RateLimit(parsing: "10/s") == RateLimit(count: 10, periodMs: 1000))
        #expect(RateLimit(parsing: "5/60s") == RateLimit(count: 5, periodMs: 60_000))
        #expect(RateLimit(parsing: "100000/d") == RateLimit(count: 100_000, periodMs: 86_400_000))
        #expect(RateLimit(parsing: "3/10m") == RateLimit(count: 3, periodMs: 600_000))
        #expect(RateLimit(parsing: "2/250ms") == RateLimit(count: 2, periodMs: 250))
        #expect(RateLimit(parsing: "7/h") == RateLimit(count: 7, periodMs: 3_600_000))
        for bad in ["", "10", "10/", "/s", "0/s", "-1/s", "10/0s", "10/x", "10/s/s", "ten/s", "10/1.5s"] {
            #expect(RateLimit(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func printsTheCanonicalForm() {
        for text in ["10/s", "5/90s", "100000/d", "3/10m", "2/250ms", "7/h"] {
            #expect(RateLimit(parsing: text)?.description == text)
        }
        #expect(RateLimit(parsing: "5/60s")?.description == "5/m")
    }
}

@Suite struct GCRATests {
    let tenPerSecond = RateLimit.perSecond(10)

    @Test func exactlyTheLimitPassesAtOneInstantAndTheNextIsRefused() {
        for count in [1, 2, 5, 10, 50, 1000] as [Int64] {
            let limit = RateLimit.perSecond(count)
            var state = GCRAState()
            for i in 0..<count {
                let decision = state.charge(1, limit: limit, nowMs: 5_000)
                #expect(decision.allowed, "request \(i + 1) of \(count)")
                #expect(decision.remaining == count - i - 1)
            }
            let refused = state.charge(1, limit: limit, nowMs: 5_000)
            #expect(!refused.allowed && refused.cost == 0 && refused.remaining == 0, "request \(count + 1) of \(count)")
        }
    }

    @Test func refusalSaysExactlyWhenToComeBack() {
        var state = GCRAState()
        for _ in 0..<10 { _ = state.charge(1, limit: tenPerSecond, nowMs: 0) }
        let refused = state.charge(1, limit: tenPerSecond, nowMs: 0)
        #expect(refused.retryAfterMs == 100)
        #expect(refused.resetMs == 1000)
        // One millisecond early is still refused; on time passes, and only one unit has refilled.
        #expect(!state.charge(1, limit: tenPerSecond, nowMs: 99).allowed)
        #expect(state.charge(1, limit: tenPerSecond, nowMs: 100).allowed)
        #expect(!state.charge(1, limit: tenPerSecond, nowMs: 100).allowed)
    }

    @Test func steadyRateAtTheLimitIsNeverRefused() {
        var state = GCRAState()
        for i in 0..<10_000 as Range<Int64> {
            #expect(state.charge(1, limit: tenPerSecond, nowMs: i * 100).allowed)
        }
    }

    @Test func costsAboveOneAndUsageNumbers() {
        var state = GCRAState()
        let first = state.charge(5, limit: tenPerSecond, nowMs: 0)
        #expect(first.allowed && first.cost == 5 && first.remaining == 5 && first.resetMs == 500)
        #expect(first.usedFraction == 0.5)
        // 5 left: a cost of 6 is refused until one more unit has refilled (100 ms).
        let refused = state.charge(6, limit: tenPerSecond, nowMs: 0)
        #expect(!refused.allowed && refused.retryAfterMs == 100 && refused.remaining == 5)
        #expect(state.charge(6, limit: tenPerSecond, nowMs: 100).allowed)
        // A cost above the burst is clamped to it, so it can pass once the bucket is full.
        var other = GCRAState()
        #expect(other.charge(50, limit: tenPerSecond, nowMs: 0).cost == 10)
    }

    @Test func peekDoesNotCharge() {
        var state = GCRAState()
        _ = state.charge(3, limit: tenPerSecond, nowMs: 0)
        #expect(state.peek(limit: tenPerSecond, nowMs: 0).remaining == 7)
        #expect(state.peek(limit: tenPerSecond, nowMs: 0).remaining == 7)
        #expect(state.peek(limit: tenPerSecond, nowMs: 300).remaining == 10)
        #expect(state.isIdle(nowMs: 300))
    }

    @Test func perDayLimitAtItsNumber() {
        let perDay = RateLimit(count: 1000, periodMs: 86_400_000)
        var state = GCRAState()
        for i in 0..<1000 as Range<Int64> { #expect(state.charge(1, limit: perDay, nowMs: i).allowed) }
        let refused = state.charge(1, limit: perDay, nowMs: 1000)
        #expect(!refused.allowed)
        // One order refills every 86.4 s.
        #expect(refused.retryAfterMs <= 86_400 && refused.retryAfterMs > 85_000)
    }

    @Test func tableIsExactUnderConcurrency() async {
        let table = RateLimitTable()
        let limit = RateLimit(count: 500, periodMs: 60_000)
        let admitted = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var mine = 0
                    for _ in 0..<200 where table.charge("a", limit: limit, nowMs: 1_000).allowed { mine += 1 }
                    return mine
                }
            }
            return await group.reduce(0, +)
        }
        #expect(admitted == 500)
    }

    @Test func tableKeysAreIndependentAndRefilledKeysAreDroppedAtCapacity() {
        let table = RateLimitTable(capacity: 2)
        let limit = RateLimit.perSecond(1)
        #expect(table.charge("a", limit: limit, nowMs: 0).allowed)
        #expect(!table.charge("a", limit: limit, nowMs: 0).allowed)
        #expect(table.charge("b", limit: limit, nowMs: 0).allowed)
        #expect(table.trackedKeys == 2)
        // At capacity with both busy, a third key is admitted untracked (fail open per key).
        #expect(table.charge("c", limit: limit, nowMs: 0).allowed)
        #expect(table.trackedKeys == 2)
        // Once "a" and "b" have refilled they carry no state and make room.
        #expect(table.charge("c", limit: limit, nowMs: 2_000).allowed)
        #expect(table.trackedKeys == 1)
        #expect(!table.charge("c", limit: limit, nowMs: 2_000).allowed)
    }
}

@Suite struct LadderPiecesTests {
    @Test func thresholdFiresAtTheNthEventWithinTheWindowNotBefore() {
        let counter = ThresholdCounter(limit: RateLimit(count: 3, periodMs: 10_000))
        #expect(!counter.record("c", nowMs: 0))
        #expect(!counter.record("c", nowMs: 1))
        #expect(counter.record("c", nowMs: 2))
        // It starts again from zero.
        #expect(!counter.record("c", nowMs: 3))
        #expect(counter.count("c", nowMs: 3) == 1)
        // Events spread wider than the window drain and never fire.
        let slow = ThresholdCounter(limit: RateLimit(count: 3, periodMs: 3_000))
        for i in 0..<100 as Range<Int64> { #expect(!slow.record("c", nowMs: i * 1_000)) }
    }

    @Test func bansEscalateOnRepeatAndEndByThemselves() {
        var policy = BanList.Policy()
        policy.baseMs = 1_000
        policy.maxMs = 5_000
        policy.resetAfterMs = 60_000
        let bans = BanList(policy: policy)
        let subject = BanSubject.ip("203.0.113.7")
        #expect(bans.ban(subject, reason: "r", nowMs: 0).untilMs == 1_000)
        #expect(bans.active(subject, nowMs: 999) != nil)
        #expect(bans.active(subject, nowMs: 1_000) == nil)
        #expect(bans.ban(subject, reason: "r", nowMs: 2_000).untilMs == 4_000)
        #expect(bans.ban(subject, reason: "r", nowMs: 5_000).untilMs == 9_000)
        let capped = bans.ban(subject, reason: "r", nowMs: 10_000)
        #expect(capped.level == 4 && capped.untilMs == 15_000)
        // Long after the last one, a new ban starts at the first level again.
        #expect(bans.ban(subject, reason: "r", nowMs: 100_000).level == 1)
        #expect(bans.active(nowMs: 100_000).map(\.subject) == [subject])
    }

    @Test func liftingEndsTheBanAndForgetsTheEscalation() {
        let bans = BanList()
        let key = BanSubject.key("k_1")
        bans.ban(key, reason: "r", nowMs: 0)
        bans.ban(key, reason: "r", nowMs: 1)
        #expect(bans.lift(key, nowMs: 2))
        #expect(bans.active(key, nowMs: 2) == nil)
        #expect(!bans.lift(key, nowMs: 2))
        #expect(bans.ban(key, reason: "r", nowMs: 3).level == 1)
    }

    @Test func subjectsParseAndPrint() {
        #expect(BanSubject("ip:127.0.0.1") == .ip("127.0.0.1"))
        #expect(BanSubject("ip:::1") == .ip("::1"))
        #expect(BanSubject("key:k_abc") == .key("k_abc"))
        for bad in ["", "ip:", "key:", "127.0.0.1", "account:a_1"] { #expect(BanSubject(bad) == nil) }
        #expect(BanSubject.key("k_abc").description == "key:k_abc")
    }
}

@Suite struct MethodCostTests {
    @Test func cancelsAreChargedOnlyToTheirOwnBucketOnceLoggedIn() {
        for method in ["private/order.cancel", "private/order.cancel_all", "private/cancel_all_after"] {
            let plan = MethodCosts.plan(for: method, loggedIn: true)
            #expect(plan.charges.map(\.bucket) == [.cancels] && plan.reported == .cancels)
            // Before login nothing is free: it costs a message (and gets `unauthenticated`).
            #expect(MethodCosts.plan(for: method, loggedIn: false).charges.map(\.bucket) == [.messages])
        }
    }

    @Test func ordersAreChargedToMessagesWeightOrdersAndTheDailyBucket() {
        let plan = MethodCosts.plan(for: "private/order.place", loggedIn: true)
        #expect(plan.charges.map(\.bucket) == [.messages, .weight, .orders, .ordersDay])
        #expect(plan.reported == .orders)
    }

    @Test func publishedWeights() {
        #expect(MethodCosts.weight(of: "private/orders.open") == 5)
        #expect(MethodCosts.weight(of: "private/account.balances") == 2)
        #expect(MethodCosts.weight(of: "private/session.status") == 1)
        #expect(MethodCosts.weight(of: "private/something.new") == 1)
        #expect(MethodCosts.plan(for: "private/orders.open", loggedIn: true).charges.map(\.cost) == [1, 5])
        #expect(MethodCosts.plan(for: "public/auth", loggedIn: false).reported == .login)
        #expect(MethodCosts.plan(for: "subscribe", loggedIn: true).reported == .subscriptions)
        #expect(MethodCosts.plan(for: "public/time", loggedIn: true).charges.map(\.bucket) == [.messages])
    }
}
