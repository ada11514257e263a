#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The source of wall-clock time. Everything time-dependent takes one, so tests inject a
/// `ManualClock` instead of sleeping.
public protocol WallClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func nowMs() -> Int64
    /// Microseconds since the Unix epoch (for `us_in` / `us_out` and audit timestamps).
    func nowUs() -> Int64
}

extension WallClock {
    public func nowMs() -> Int64 { nowUs() / 1000 }
}

/// The real clock (`CLOCK_REALTIME`).
public struct SystemClock: WallClock {
    public init() {}
    public func nowUs() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
    }
}

/// A clock that moves only when told to; for tests.
public final class ManualClock: WallClock, @unchecked Sendable {
    // Guarded by `lock`; tests may advance it from another task than the one reading it.
    private var currentUs: Int64
    private let lock = SpinLock()

    public init(nowMs: Int64) { self.currentUs = nowMs * 1000 }

    public func nowUs() -> Int64 { lock.withLock { currentUs } }

    public func advance(byMs delta: Int64) { lock.withLock { currentUs += delta * 1000 } }

    public func set(nowMs: Int64) { lock.withLock { currentUs = nowMs * 1000 } }
}
