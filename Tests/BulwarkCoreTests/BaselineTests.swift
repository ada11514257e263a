import BulwarkCore
import Testing

@Suite struct BaselineTests {
    private func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-12) -> Bool { abs(a - b) <= tolerance }

    // MARK: EWMABaseline

    @Test func startUpIsTheExactMeanAndPopulationVariance() {
        // While count ≤ 1/alpha the weight is 1/count: the textbook sample 2,4,4,4,5,5,7,9 has
        // mean 5 and population variance 4.
        var baseline = EWMABaseline(alpha: 0.1)
        for x in [2.0, 4, 4, 4, 5, 5, 7, 9] { baseline.observe(x) }
        #expect(baseline.count == 8)
        #expect(close(baseline.mean, 5))
        #expect(close(baseline.variance, 4))
        #expect(close(baseline.standardDeviation, 2))
    }

    @Test func exponentialWeightingAfterStartUp() {
        // alpha 0.5, by hand:
        //   10: mean 10, variance 0
        //   20: a = 1/2, diff 10, mean 15,   variance 0.5·(0  + 0.5·100) = 25
        //   30: a = 1/2, diff 15, mean 22.5, variance 0.5·(25 + 0.5·225) = 68.75
        //   10: a = 1/2, diff −12.5, mean 16.25, variance 0.5·(68.75 + 0.5·156.25) = 73.4375
        var baseline = EWMABaseline(alpha: 0.5)
        baseline.observe(10)
        #expect(baseline.mean == 10 && baseline.variance == 0)
        baseline.observe(20)
        #expect(close(baseline.mean, 15) && close(baseline.variance, 25))
        baseline.observe(30)
        #expect(close(baseline.mean, 22.5) && close(baseline.variance, 68.75))
        baseline.observe(10)
        #expect(close(baseline.mean, 16.25) && close(baseline.variance, 73.4375))
    }

    @Test func alphaTenPercentAfterTheTenthObservation() {
        // Ten 0s (mean 0, variance 0), then 10 with weight 0.1 (count 11 > 1/alpha):
        // mean 1, variance 0.9·(0 + 0.1·100) = 9.
        var baseline = EWMABaseline(alpha: 0.1)
        for _ in 0..<10 { baseline.observe(0) }
        baseline.observe(10)
        #expect(close(baseline.mean, 1) && close(baseline.variance, 9))
    }

    @Test func deviationIsZeroUntilWarmUp() {
        var baseline = EWMABaseline(alpha: 0.1, warmUp: 5)
        for n in 1...4 {
            baseline.observe(10)
            #expect(baseline.count == n && !baseline.isWarm)
            #expect(baseline.deviation(of: 1_000) == 0)
        }
        baseline.observe(10)
        #expect(baseline.isWarm)
        // Variance 0: the floor is max(absolute 1, 25 % of |mean| = 2.5).
        #expect(close(baseline.deviation(of: 20), 4))
        #expect(close(baseline.deviation(of: 5), -2))
        #expect(baseline.deviation(of: .nan) == 0)
    }

    @Test func deviationUsesTheLargerOfSigmaAndFloors() {
        var baseline = EWMABaseline(alpha: 0.1, warmUp: 5)
        for x in [2.0, 4, 4, 4, 5, 5, 7, 9] { baseline.observe(x) }  // mean 5, σ 2 > floors (1, 1.25)
        #expect(close(baseline.deviation(of: 11), 3))
        var quiet = EWMABaseline(alpha: 0.1, warmUp: 5, absoluteFloor: 1, relativeFloor: 0)
        for _ in 0..<5 { quiet.observe(0) }  // σ 0, mean 0: only the absolute floor is left
        #expect(close(quiet.deviation(of: 3), 3))
        #expect(quiet.deviation(of: 3).isFinite)
    }

    @Test func nonFiniteObservationsAreIgnored() {
        var baseline = EWMABaseline()
        baseline.observe(3)
        baseline.observe(.nan)
        baseline.observe(.infinity)
        baseline.observe(-.infinity)
        baseline.observe(.nan, times: 10)
        #expect(baseline.count == 1 && baseline.mean == 3 && baseline.variance == 0)
    }

    @Test func repeatedObservationsMatchTheLoopAndStayBounded() {
        var looped = EWMABaseline(alpha: 0.2)
        var batched = looped
        for x in [5.0, 7, 6, 8] {
            looped.observe(x)
            batched.observe(x)
        }
        for _ in 0..<12 { looped.observe(0) }
        batched.observe(0, times: 12)
        #expect(batched == looped)

        // A year of silence in one call: bounded work, and the history has faded out.
        batched.observe(0, times: 3_000_000)
        #expect(batched.count == 4 + 12 + 3_000_000)
        #expect(abs(batched.mean) < 1e-12 && batched.variance < 1e-12)
        batched.observe(1, times: .max)
        #expect(batched.count == .max)
    }

    // MARK: RateWindow

    @Test func countsRequestsPerWindow() {
        var window = RateWindow(windowMs: 10_000)
        #expect(window.currentCount(atMs: 0) == 0)
        #expect(window.record(atMs: 1_000).windows == 0)  // the first window starts at 1 000
        #expect(window.record(atMs: 5_000).windows == 0)
        #expect(window.record(atMs: 10_999).windows == 0)
        #expect(window.inProgressCount == 3)
        #expect(window.currentCount(atMs: 10_999) == 3)
        #expect(window.currentCount(atMs: 11_000) == 0)  // that window is over, even if not closed yet

        let first = window.record(atMs: 11_000)
        #expect(first == ClosedWindows(windows: 1, requestsInFirst: 3))
        #expect(first.counts() == [3])
        #expect(window.windowStartMs == 11_000 && window.inProgressCount == 1)

        // 11 000–21 000 holds one request; 21 000–31 000 and 31 000–41 000 hold none.
        let gap = window.record(atMs: 45_000)
        #expect(gap == ClosedWindows(windows: 3, requestsInFirst: 1))
        #expect(gap.counts() == [1, 0, 0])
        #expect(window.windowStartMs == 41_000 && window.inProgressCount == 1)
    }

    @Test func clockSteppingBackStaysInTheCurrentWindow() {
        var window = RateWindow(windowMs: 10_000)
        _ = window.record(atMs: 100_000)
        #expect(window.record(atMs: 50_000).windows == 0)
        #expect(window.windowStartMs == 100_000 && window.inProgressCount == 2)
        #expect(window.record(atMs: .min).windows == 0)
        #expect(window.record(atMs: .max).windows > 0)  // no overflow at the extremes
    }

    @Test func advanceClosesQuietWindowsWithoutARequest() {
        var window = RateWindow(windowMs: 1_000)
        #expect(window.advance(toMs: 5_000).windows == 0)  // nothing started yet
        _ = window.record(atMs: 0)
        _ = window.record(atMs: 10)
        #expect(window.advance(toMs: 2_500) == ClosedWindows(windows: 2, requestsInFirst: 2))
        #expect(window.inProgressCount == 0 && window.windowStartMs == 2_000)
        #expect(ClosedWindows(windows: 0, requestsInFirst: 7).requestsInFirst == 0)
    }

    @Test func aBurstStandsOutAgainstTheAccountsOwnRate() {
        var window = RateWindow(windowMs: 10_000)
        var baseline = EWMABaseline()
        var now: Int64 = 0
        // Twenty windows of a steady 5 requests.
        for _ in 0..<20 {
            for i in 0..<5 { baseline.observe(window.record(atMs: now + Int64(i) * 1_000)) }
            now += 10_000
        }
        baseline.observe(window.advance(toMs: now))
        #expect(baseline.count == 20 && close(baseline.mean, 5))
        #expect(baseline.deviation(of: Double(window.currentCount(atMs: now))) < 0)
        for i in 0..<30 { baseline.observe(window.record(atMs: now + Int64(i) * 100)) }
        // 30 against a mean of 5, σ 0 → floor max(1, 1.25): z = 20.
        #expect(close(baseline.deviation(of: Double(window.currentCount(atMs: now + 3_000))), 20))
    }
}
