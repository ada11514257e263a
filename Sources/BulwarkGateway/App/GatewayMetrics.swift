import Synchronization

/// Process counters, read by logs now and by `/metrics` when the observability milestone lands.
public final class GatewayMetrics: Sendable {
    public let connectionsAccepted = Atomic<Int>(0)
    public let connectionsOpen = Atomic<Int>(0)
    public let upgradesRefused = Atomic<Int>(0)
    public let loginSuccesses = Atomic<Int>(0)
    public let loginFailures = Atomic<Int>(0)
    public let authDeadlineCloses = Atomic<Int>(0)
    /// Sealed frames refused (forged, replayed, reordered, malformed, or without session keys): each closes 4005.
    public let sealedFrameViolations = Atomic<Int>(0)
    public let certificateReloads = Atomic<Int>(0)
    public let certificateReloadFailures = Atomic<Int>(0)
    public let certificateDaysLeft = Atomic<Int>(0)

    public init() {}
}
