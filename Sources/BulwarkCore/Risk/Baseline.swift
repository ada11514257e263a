#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An account's own normal for one quantity (requests per window, order notional): an
/// exponentially weighted moving mean and variance, updated in O(1) time and memory per
/// observation, so the risk engine can ask "how unusual is this value *for this account*?".
///
/// Update rule (West 1979; Finch, "Incremental calculation of weighted mean and variance", 2009),
/// for an observation `x` with weight `a`:
///
///     diff     = x − mean
///     mean     = mean + a·diff
///     variance = (1 − a)·(variance + a·diff²)
///
/// with `a = max(alpha, 1/count)`. While `count ≤ 1/alpha` that weight is `1/count`, which makes
/// `mean` and `variance` the exact arithmetic mean and population variance of everything seen so
/// far; afterwards old observations fade by a factor `1 − alpha` per new one. Starting this way
/// avoids the usual bias of an EWMA seeded with a single value (a variance of ~0 that would make
/// the second, slightly different observation look like an enormous deviation).
public struct EWMABaseline: Sendable, Equatable {
    /// Weight of a new observation once warmed up; `1/alpha` is roughly the memory in observations.
    public let alpha: Double
    /// Observations needed before `deviation(of:)` reports anything but 0 (default 5): a handful of
    /// samples says nothing about an account's normal, and a fresh credential must not look
    /// anomalous merely for being fresh.
    public let warmUp: Int
    /// Smallest standard deviation used by `deviation(of:)`, in the quantity's own unit.
    public let absoluteFloor: Double
    /// Smallest standard deviation as a fraction of `|mean|`, so a perfectly regular history
    /// (variance ≈ 0) does not turn the first small change into a huge z-score.
    public let relativeFloor: Double

    public private(set) var count: Int = 0
    public private(set) var mean: Double = 0
    public private(set) var variance: Double = 0

    public init(alpha: Double = 0.1, warmUp: Int = 5, absoluteFloor: Double = 1, relativeFloor: Double = 0.25) {
        precondition(alpha > 0 && alpha <= 1, "alpha must be in (0, 1]")
        precondition(absoluteFloor > 0 && absoluteFloor.isFinite, "absoluteFloor must be positive")
        precondition(relativeFloor >= 0 && relativeFloor.isFinite, "relativeFloor must not be negative")
        self.alpha = alpha
        self.warmUp = max(1, warmUp)
        self.absoluteFloor = absoluteFloor
        self.relativeFloor = relativeFloor
    }

    public var standardDeviation: Double { variance.squareRoot() }

    /// Whether enough observations arrived for `deviation(of:)` to mean something.
    public var isWarm: Bool { count >= warmUp }

    /// Folds one observation into the mean and variance. Non-finite values are ignored: one NaN
    /// would otherwise poison the baseline for good.
    public mutating func observe(_ x: Double) {
        guard x.isFinite else { return }
        count = count == .max ? count : count + 1
        let weight = max(alpha, 1 / Double(count))
        let diff = x - mean
        let increment = weight * diff
        mean += increment
        variance = (1 - weight) * (variance + diff * increment)
    }

    /// Observes `x` `times` times (the quiet windows after a gap in traffic), in bounded time:
    /// after `fadeOutSteps` repetitions the earlier history weighs less than 1e-16 and further
    /// repetitions cannot change `mean` or `variance` measurably, so only `count` moves on.
    public mutating func observe(_ x: Double, times: Int) {
        guard x.isFinite, times > 0 else { return }
        let steps = min(times, fadeOutSteps)
        for _ in 0..<steps { observe(x) }
        let (sum, overflow) = count.addingReportingOverflow(times - steps)
        count = overflow ? .max : sum
    }

    /// How far `x` lies from the mean, in standard deviations: `(x − mean) / max(σ, floor)` with
    /// `floor = max(absoluteFloor, relativeFloor·|mean|)`. Positive above the mean, negative below;
    /// 0 before warm-up and for non-finite input ("no evidence").
    public func deviation(of x: Double) -> Double {
        guard isWarm, x.isFinite else { return 0 }
        let floor = max(absoluteFloor, relativeFloor * abs(mean))
        return (x - mean) / max(standardDeviation, floor)
    }

    /// Repetitions after which the history's weight `(1 − alpha)^n` drops below 1e-16, plus the
    /// start-up phase (up to `1/alpha` observations weighted `1/count`).
    private var fadeOutSteps: Int {
        guard alpha < 1 else { return 1 }
        let startUp = (1 / alpha).rounded(.up)
        let fade = (log(1e-16) / log1p(-alpha)).rounded(.up)
        return Int(min(startUp + fade, 1_000_000))
    }
}

/// Windows closed by a `RateWindow` since the previous call: the window that was in progress,
/// then possibly whole windows in which no request arrived at all. Kept as two numbers rather
/// than a list so an hour of silence costs no memory.
public struct ClosedWindows: Sendable, Equatable {
    /// How many windows closed (0: the current window is still open).
    public let windows: Int
    /// Requests counted in the first closed window; every later closed window had none.
    public let requestsInFirst: Int

    public init(windows: Int, requestsInFirst: Int) {
        self.windows = windows
        self.requestsInFirst = windows > 0 ? requestsInFirst : 0
    }

    /// Per-window counts, oldest first (`[requestsInFirst, 0, 0, …]`); for tests and small gaps.
    public func counts(limit: Int = 64) -> [Int] {
        guard windows > 0 else { return [] }
        return [requestsInFirst] + Array(repeating: 0, count: min(windows, max(1, limit)) - 1)
    }
}

extension EWMABaseline {
    /// Feeds closed request windows into a request-rate baseline: the counted window, then the
    /// empty ones.
    public mutating func observe(_ closed: ClosedWindows) {
        guard closed.windows > 0 else { return }
        observe(Double(closed.requestsInFirst))
        observe(0, times: closed.windows - 1)
    }
}

/// Turns request timestamps into counts per fixed window (default 10 s), in O(1) memory: only
/// the window in progress is kept. The caller feeds the windows it closes into an
/// `EWMABaseline`, and compares the in-progress count against that baseline.
///
/// Windows are aligned to the first request (not to the wall clock), so they are the same length
/// however the session started. A timestamp earlier than the current window (a wall clock that
/// stepped back) counts in the current window rather than reopening old ones.
public struct RateWindow: Sendable, Equatable {
    public let windowMs: Int64
    /// Start of the window in progress; nil before the first request.
    public private(set) var windowStartMs: Int64?
    /// Requests recorded in the window in progress.
    public private(set) var inProgressCount: Int = 0

    public init(windowMs: Int64 = 10_000) {
        precondition(windowMs > 0, "windowMs must be positive")
        self.windowMs = windowMs
    }

    /// Records one request at `nowMs`, first closing the windows that ended before it.
    public mutating func record(atMs nowMs: Int64) -> ClosedWindows {
        let closed = advance(toMs: nowMs)
        if windowStartMs == nil { windowStartMs = nowMs }
        inProgressCount = inProgressCount == .max ? inProgressCount : inProgressCount + 1
        return closed
    }

    /// Closes the windows that ended by `nowMs` without recording a request, so a timer can hand
    /// quiet periods to the baseline too.
    public mutating func advance(toMs nowMs: Int64) -> ClosedWindows {
        guard let start = windowStartMs else { return ClosedWindows(windows: 0, requestsInFirst: 0) }
        let elapsedWindows = Self.windowsElapsed(from: start, to: nowMs, windowMs: windowMs)
        guard elapsedWindows > 0 else { return ClosedWindows(windows: 0, requestsInFirst: 0) }
        let closed = ClosedWindows(windows: Int(clamping: elapsedWindows), requestsInFirst: inProgressCount)
        let (advanced, overflow) = (elapsedWindows * windowMs).addingReportingOverflow(start)
        windowStartMs = overflow ? nowMs : advanced
        inProgressCount = 0
        return closed
    }

    /// Requests so far in the window that contains `nowMs`: the in-progress count, or 0 when that
    /// window has already ended. A lower bound of what the window will finally hold, so comparing
    /// it with the baseline can understate a spike early in a window but never invents one.
    public func currentCount(atMs nowMs: Int64) -> Int {
        guard let start = windowStartMs else { return 0 }
        return Self.windowsElapsed(from: start, to: nowMs, windowMs: windowMs) == 0 ? inProgressCount : 0
    }

    private static func windowsElapsed(from start: Int64, to now: Int64, windowMs: Int64) -> Int64 {
        let (elapsed, overflow) = now.subtractingReportingOverflow(start)
        if overflow { return now > start ? Int64.max / windowMs : 0 }
        return elapsed <= 0 ? 0 : elapsed / windowMs
    }
}
