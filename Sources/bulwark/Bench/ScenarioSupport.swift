import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// What every scenario is given: how to connect, the load's shape, and where failures go.
struct ScenarioContext: Sendable {
    let factory: LinkFactory
    let load: LoadShape
    let failures: FailureLog
    /// Creates accounts and keys in the gateway's data folder; nil against a peer server.
    let provisioner: BenchProvisioner?
    let server: ServerProbe?

    /// A fresh identity to log in with (a stand-in that peers accept when there is no data folder).
    func identity(_ role: String) throws -> BenchIdentity {
        try provisioner?.identity(role) ?? .unregistered()
    }

    /// Gives the gateway time to apply new deposits from its change feed (within a second).
    func settleProvisioning() async {
        if provisioner != nil { try? await Task.sleep(for: .milliseconds(1500)) }
    }
}

/// The load's parameters, as given on the command line.
struct LoadShape: Sendable {
    var connections: Int
    var messageBytes: Int
    var depth: Int
    var durationSeconds: Double
    var warmupSeconds: Double
    /// Target rate in operations per second for paced scenarios (orders, fan-out publications); 0: as fast as `depth` allows.
    var rate: Double
    var openConcurrency: Int
}

/// Failures seen during a run: counted, and the first few kept for the report.
final class FailureLog: Sendable {
    private let state = NIOLockedValueBox<(count: Int, samples: [String])>((0, []))

    func record(_ message: String) {
        state.withLockedValue {
            $0.count += 1
            if $0.samples.count < 5 { $0.samples.append(message) }
        }
    }

    var count: Int { state.withLockedValue { $0.count } }
    var samples: [String] { state.withLockedValue { $0.samples } }
}

/// Opens many connections with bounded concurrency and keeps those that came up.
enum LinkPool {
    static func open(
        _ count: Int, context: ScenarioContext, path: String, subprotocol: String?,
        makeDriver: @escaping @Sendable (Int) -> @Sendable () -> any LinkDriver
    ) async -> [any Channel] {
        await withTaskGroup(of: (any Channel)?.self) { group in
            var channels: [any Channel] = []
            var next = 0
            func launch(_ index: Int) {
                group.addTask {
                    do {
                        return try await context.factory.open(path: path, subprotocol: subprotocol, seed: UInt64(index) &* 0x9E37_79B9_7F4A_7C15 &+ 1, makeDriver: makeDriver(index))
                    } catch {
                        context.failures.record("connect: \(error)")
                        return nil
                    }
                }
            }
            while next < min(count, context.load.openConcurrency) {
                launch(next)
                next += 1
            }
            for await channel in group {
                if let channel { channels.append(channel) }
                if next < count {
                    launch(next)
                    next += 1
                }
            }
            return channels
        }
    }

    /// Closes every channel and waits until each has gone (drivers flush their numbers on close).
    static func close(_ channels: [any Channel]) async {
        for channel in channels { channel.close(promise: nil) }
        for channel in channels { try? await channel.closeFuture.get() }
    }
}

/// Waits until `condition` holds or the timeout passes; returns whether it held.
func waitUntil(timeoutSeconds: Double, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while !condition() {
        if Date() > deadline { return false }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return true
}

/// Sleeps until a monotonic instant.
func sleep(untilNanos target: UInt64) async {
    let now = MonotonicClock.nanos()
    if target > now { try? await Task.sleep(for: .nanoseconds(Int64(target - now))) }
}

/// Latencies collected on one connection and handed to the shared recorder in batches.
struct LatencyBatch {
    private var values: [UInt64] = []
    let recorder: LatencyRecorder

    init(recorder: LatencyRecorder) {
        self.recorder = recorder
        values.reserveCapacity(1024)
    }

    mutating func add(_ nanos: UInt64) {
        values.append(nanos)
        if values.count == 1024 { flush() }
    }

    mutating func flush() {
        recorder.record(batch: values)
        values.removeAll(keepingCapacity: true)
    }
}

/// The gateway process, read from /proc: resident memory and CPU time, for per-connection memory
/// and CPU per message.
struct ServerProbe: Sendable {
    let pid: Int32

    struct Sample: Sendable {
        let rssBytes: Int
        let cpuSeconds: Double
    }

    func sample() -> Sample? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        else { return nil }
        let rssKiB = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0) } ?? 0
        // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
        let afterName = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        let ticks = (Double(afterName[11]) ?? 0) + (Double(afterName[12]) ?? 0)
        return Sample(rssBytes: rssKiB * 1024, cpuSeconds: ticks / Double(sysconf(Int32(_SC_CLK_TCK))))
    }
}

/// The pacing the order-sending drivers share: `rate` requests per second from a 1 ms ticker,
/// or closed loop when `rate` is 0 (a new request whenever one is answered); never more than
/// `depth` unanswered, and nothing after the window's end.
struct PacedSchedule {
    let rate: Double
    let depth: Int
    private let endNanos: UInt64
    private var issued = 0
    private var startedNanos: UInt64 = 0
    private var ticker: RepeatedTask?

    init(rate: Double, depth: Int, window: MeasurementWindow) {
        self.rate = rate
        self.depth = max(depth, 1)
        self.endNanos = window.endNanos
    }

    /// Closed loop: the driver sends again from its response handler instead of a ticker.
    var isClosedLoop: Bool { rate <= 0 }

    /// Starts the clock; when paced, `tick` runs every millisecond on `loop` until `stop()`.
    mutating func start(on loop: any EventLoop, tick: @escaping () -> Void) {
        startedNanos = MonotonicClock.nanos()
        guard !isClosedLoop else { return }
        let bound = NIOLoopBound(tick, eventLoop: loop)
        ticker = loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(1)) { _ in bound.value() }
    }

    mutating func stop() { ticker?.cancel() }

    /// How many requests to send now, given `unanswered` still pending. Past the deadline it is
    /// 0 and the ticker stops. Requests that were due but held back by `depth` are dropped from
    /// the schedule, so a driver that falls behind does not catch up later in a burst.
    mutating func allowance(now: UInt64, unanswered: Int) -> Int {
        guard now < endNanos else {
            stop()
            return 0
        }
        let room = max(depth - unanswered, 0)
        if isClosedLoop { return room }
        let due = max(Int(Double(now - startedNanos) / 1e9 * rate) - issued, 0)
        issued += due
        return min(due, room)
    }
}
