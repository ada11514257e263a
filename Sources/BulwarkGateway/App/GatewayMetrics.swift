import Synchronization

/// Process counters and gauges, exposed in the Prometheus text format by `MetricsExposition`
/// (`GET /admin/v1/metrics`, and `GET /metrics` when `metrics.public` is on).
///
/// Everything is a relaxed atomic or a short critical section: the data plane updates these on
/// every frame, from every event loop.
public final class GatewayMetrics: Sendable {
    public let connectionsAccepted = Atomic<Int>(0)
    public let connectionsOpen = Atomic<Int>(0)
    public let upgradesRefused = Atomic<Int>(0)
    public let loginSuccesses = Atomic<Int>(0)
    public let loginFailures = Atomic<Int>(0)
    /// Failed logins by their wire error (`auth_failed`, `timestamp_out_of_window`, …).
    public let loginFailuresByCode = LabelledCounters()
    /// Security events raised by the detection rules, by rule.
    public let securityEvents = LabelledCounters()
    public let authDeadlineCloses = Atomic<Int>(0)
    /// Sealed frames refused (forged, replayed, reordered, malformed, or without session keys): each closes 4005.
    public let sealedFrameViolations = Atomic<Int>(0)
    public let certificateReloads = Atomic<Int>(0)
    public let certificateReloadFailures = Atomic<Int>(0)
    public let certificateDaysLeft = Atomic<Int>(0)

    public let connections = ConnectionGauges()
    public let frames = DirectionCounters()
    public let bytes = DirectionCounters()
    public let closes = CloseCounters()
    public let slowConsumers = SlowConsumerCounters()
    public let outboundQueue = QueueGauges()
    /// Connections dropped because a ping was not answered within `ws.pong_timeout_ms`.
    public let keepaliveTimeouts = Atomic<Int>(0)
    /// Handshakes dropped at `ws.handshake_deadline_ms`.
    public let handshakeTimeouts = Atomic<Int>(0)
    /// Requests refused for their header block: too large (431) or too many fields (400).
    public let handshakeHeaderRefusals = Atomic<Int>(0)

    public init() {}
}

/// Connections by state: TCP accepted but not upgraded yet, WebSocket open, close handshake running.
public final class ConnectionGauges: Sendable {
    public let handshaking = Atomic<Int>(0)
    public let open = Atomic<Int>(0)
    public let closing = Atomic<Int>(0)
}

public final class DirectionCounters: Sendable {
    public let received = Atomic<Int>(0)
    public let sent = Atomic<Int>(0)
}

/// WebSocket closes by code and by who started the close handshake.
public final class CloseCounters: Sendable {
    public enum Initiator: String, Sendable {
        case server
        case client
    }

    public struct Key: Hashable, Sendable, Comparable {
        public let code: UInt16
        public let initiator: Initiator

        public static func < (a: Key, b: Key) -> Bool {
            (a.code, a.initiator.rawValue) < (b.code, b.initiator.rawValue)
        }
    }

    private let counts = Mutex<[Key: Int]>([:])

    public func record(code: UInt16, by initiator: Initiator) {
        counts.withLock { $0[Key(code: code, initiator: initiator), default: 0] += 1 }
    }

    public var snapshot: [Key: Int] { counts.withLock { $0 } }
}

/// What the fan-out did to subscribers that read slower than they are written to.
public final class SlowConsumerCounters: Sendable {
    /// Public messages not delivered to one subscriber (its queue was full, or its book was stale).
    public let droppedMessages = Atomic<Int>(0)
    /// Times a subscriber's queue overflowed (each one starts a drop episode).
    public let events = Atomic<Int>(0)
    /// Fresh book snapshots sent to resynchronise a subscriber after drops.
    public let resyncs = Atomic<Int>(0)
    /// Connections closed with 4004: reliable (private) data did not fit their queue.
    public let closes = Atomic<Int>(0)
}

/// The bytes and messages waiting in subscribers' outbound queues, summed over connections.
public final class QueueGauges: Sendable {
    public let bytes = Atomic<Int>(0)
    public let messages = Atomic<Int>(0)
    /// The largest single connection's queue seen since start, in bytes.
    public let peakBytes = Atomic<Int>(0)

    func recordDepth(_ connectionBytes: Int) {
        var current = peakBytes.load(ordering: .relaxed)
        while connectionBytes > current {
            let (exchanged, original) = peakBytes.compareExchange(expected: current, desired: connectionBytes, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}

/// Counters keyed by one label value (bounded: the label values come from fixed code sets).
public final class LabelledCounters: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    public init() {}

    public func add(_ label: String) { counts.withLock { $0[label, default: 0] += 1 } }

    public var snapshot: [String: Int] { counts.withLock { $0 } }
}
