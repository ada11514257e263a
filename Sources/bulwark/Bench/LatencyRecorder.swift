import Histogram
import NIOConcurrencyHelpers
import NIOCore

/// A latency histogram (HdrHistogram, nanoseconds, three significant digits) shared by the
/// connections of one scenario. A lock per value costs tens of nanoseconds; per-connection
/// histograms would cost hundreds of kilobytes each with a thousand subscribers.
final class LatencyRecorder: Sendable {
    private let histogram = NIOLockedValueBox(Histogram<UInt64>(highestTrackableValue: 120_000_000_000, numberOfSignificantValueDigits: .three))

    func record(nanos: UInt64) {
        histogram.withLockedValue { _ = $0.record(Swift.max(nanos, 1)) }
    }

    /// Records a batch at once (one lock for many values).
    func record(batch: [UInt64]) {
        guard !batch.isEmpty else { return }
        histogram.withLockedValue { histogram in
            for value in batch { _ = histogram.record(Swift.max(value, 1)) }
        }
    }

    var summary: LatencySummary {
        histogram.withLockedValue { LatencySummary($0) }
    }
}

/// Percentiles in microseconds, as reported.
struct LatencySummary: Codable, Sendable {
    let count: UInt64
    let p50_us: Double
    let p90_us: Double
    let p99_us: Double
    let p99_9_us: Double
    let max_us: Double
    let mean_us: Double

    init(_ histogram: Histogram<UInt64>) {
        func us(_ nanos: UInt64) -> Double { (Double(nanos) / 100).rounded() / 10 }
        count = histogram.totalCount
        let empty = histogram.totalCount == 0
        p50_us = empty ? 0 : us(histogram.valueAtPercentile(50))
        p90_us = empty ? 0 : us(histogram.valueAtPercentile(90))
        p99_us = empty ? 0 : us(histogram.valueAtPercentile(99))
        p99_9_us = empty ? 0 : us(histogram.valueAtPercentile(99.9))
        max_us = empty ? 0 : us(histogram.max)
        mean_us = empty ? 0 : (histogram.mean / 100).rounded() / 10
    }

    var compact: String { "p50 \(p50_us) µs, p99 \(p99_us) µs, p99.9 \(p99_9_us) µs, max \(max_us) µs" }
}

/// Counters shared by the connections of one scenario.
final class Counter: Sendable {
    private let value = NIOLockedValueBox<UInt64>(0)
    func add(_ amount: UInt64 = 1) { value.withLockedValue { $0 += amount } }
    var total: UInt64 { value.withLockedValue { $0 } }
}

/// The measured interval: values are kept only for events that start inside it, so connection
/// set-up and a warm-up are excluded and the tail after the deadline is not counted.
struct MeasurementWindow: Sendable {
    let startNanos: UInt64
    let endNanos: UInt64

    init(warmupSeconds: Double, durationSeconds: Double, from now: UInt64 = MonotonicClock.nanos()) {
        startNanos = now + UInt64(warmupSeconds * 1e9)
        endNanos = startNanos + UInt64(durationSeconds * 1e9)
    }

    func contains(_ nanos: UInt64) -> Bool { nanos >= startNanos && nanos < endNanos }
    var seconds: Double { Double(endNanos - startNanos) / 1e9 }
    var endDeadline: NIODeadline { .uptimeNanoseconds(endNanos) }
}
