/// A rate: at most `count` units at once, refilled continuously at `count` per `periodMs`.
///
/// Written `N/PERIOD` in the configuration (`10/s`, `5/60s`, `100000/d`): "10 per second" means a
/// burst of 10 and then one every 100 ms. This is GCRA's definition (the burst equals the count),
/// so "per day" is a sliding allowance, not a calendar-day counter.
public struct RateLimit: Sendable, Equatable, CustomStringConvertible {
    public let count: Int64
    public let periodMs: Int64

    public init(count: Int64, periodMs: Int64) {
        precondition(count > 0 && periodMs > 0, "a rate needs a positive count and period")
        self.count = count
        self.periodMs = periodMs
    }

    public static func perSecond(_ count: Int64) -> RateLimit { RateLimit(count: count, periodMs: 1000) }

    /// Time between two units at the steady rate, in microseconds, rounded up so that the burst
    /// never exceeds `count` (the rounding makes the steady rate at most 1 µs per unit slower).
    var emissionIntervalUs: Int64 { max(1, (periodMs * 1000 + count - 1) / count) }

    /// Parses `N/PERIOD`: PERIOD is `ms`, `s`, `m`, `h`, `d`, optionally preceded by a number
    /// (`250ms`, `10s`, `5m`). Nil when malformed or not positive.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Int64(parts[0]), count > 0 else { return nil }
        let period = parts[1]
        // "ms" first: it also ends in "s".
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        guard let unit = units.first(where: { period.hasSuffix($0.0) }) else { return nil }
        let (suffix, unitMs) = unit
        let multiplierText = period.dropLast(suffix.count)
        guard let multiplier = multiplierText.isEmpty ? 1 : Int64(multiplierText), multiplier > 0,
            multiplier <= 366 * 86_400_000 / unitMs, count <= 1_000_000_000
        else { return nil }
        self.init(count: count, periodMs: multiplier * unitMs)
    }

    /// The canonical text: `10/s`, `5/60s`, `100000/d`, `3/10m`.
    public var description: String {
        let units: [(String, Int64)] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
        for (suffix, unitMs) in units where periodMs % unitMs == 0 {
            let multiple = periodMs / unitMs
            return "\(count)/\(multiple == 1 ? "" : String(multiple))\(suffix)"
        }
        return "\(count)/\(periodMs)ms"
    }
}

/// The outcome of charging (or looking at) a bucket.
public struct RateDecision: Sendable, Equatable {
    public let allowed: Bool
    /// What was charged (0 when refused: a refused request takes nothing from this bucket).
    public let cost: Int64
    /// Units that could still be spent right now.
    public let remaining: Int64
    public let limit: RateLimit
    /// Until the bucket is full again.
    public let resetMs: Int64
    /// When refused: how long until the same request would pass; 0 when allowed.
    public let retryAfterMs: Int64

    /// How much of the burst is in use after this decision, 0 to 1.
    public var usedFraction: Double { Double(limit.count - remaining) / Double(limit.count) }
}

/// GCRA (the generic cell rate algorithm, ITU-T I.371) on one bucket: the whole state is the
/// theoretical arrival time (TAT) of the next unit, one integer, so memory is O(1) per key.
///
/// A request of cost `n` at time `t` would move the TAT to `max(TAT, t) + n·T` (T the emission
/// interval); it is allowed when that is at most `t + count·T`, i.e. when the bucket holds `n` units.
public struct GCRAState: Sendable, Equatable {
    /// Microseconds since the epoch; a TAT in the past means a full bucket.
    public private(set) var tatUs: Int64

    public init(tatUs: Int64 = 0) { self.tatUs = tatUs }

    /// True when the bucket is full at `nowMs` (the state then carries no information).
    public func isIdle(nowMs: Int64) -> Bool { tatUs <= nowMs * 1000 }

    /// Charges `cost` units if the bucket holds them. A cost above the burst is clamped to the
    /// burst, so a request is never refused forever.
    public mutating func charge(_ cost: Int64, limit: RateLimit, nowMs: Int64) -> RateDecision {
        let units = min(max(cost, 0), limit.count)
        let now = nowMs * 1000
        let interval = limit.emissionIntervalUs
        let span = interval * limit.count
        let base = max(tatUs, now)
        let next = base + units * interval
        guard next - now <= span else {
            return RateDecision(
                allowed: false, cost: 0, remaining: max(0, (now + span - base) / interval), limit: limit,
                resetMs: Self.ceilMs(base - now), retryAfterMs: max(1, Self.ceilMs(next - span - now)))
        }
        tatUs = next
        return RateDecision(
            allowed: true, cost: units, remaining: (now + span - next) / interval, limit: limit,
            resetMs: Self.ceilMs(next - now), retryAfterMs: 0)
    }

    /// Takes `cost` units that were spent elsewhere (another gateway node) without asking. The
    /// bucket may go into debt, so that spending several nodes admitted at once is paid back by
    /// admitting less afterwards; the debt is capped at one burst (the most a node can admit
    /// unseen within the documented bound), so nobody waits longer than two periods.
    public mutating func absorb(_ cost: Int64, limit: RateLimit, nowMs: Int64) {
        guard cost > 0 else { return }
        let now = nowMs * 1000
        let interval = limit.emissionIntervalUs
        let units = min(cost, 2 * limit.count)
        tatUs = min(max(tatUs, now) + units * interval, now + 2 * interval * limit.count)
    }

    /// The bucket's state without charging it.
    public func peek(limit: RateLimit, nowMs: Int64) -> RateDecision {
        var copy = self
        return copy.charge(0, limit: limit, nowMs: nowMs)
    }

    static func ceilMs(_ us: Int64) -> Int64 { us <= 0 ? 0 : (us + 999) / 1000 }
}
