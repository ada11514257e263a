import NIOCore

/// Echo on the conformance endpoint (`GET /ws/echo`): every connection keeps `depth` messages in
/// flight and sends the next one when one comes back. Measures messages/s and round-trip latency.
enum EchoScenario {
    static let path = "/ws/echo"

    static func run(_ context: ScenarioContext, target: String) async -> BenchResult {
        let load = context.load
        let latency = LatencyRecorder()
        let echoed = Counter()
        let payload = String(repeating: "x", count: max(load.messageBytes, 1))
        let window = MeasurementWindow(warmupSeconds: load.warmupSeconds, durationSeconds: load.durationSeconds)
        let channels = await LinkPool.open(load.connections, context: context, path: path, subprotocol: nil) { _ in
            { EchoDriver(payload: payload, depth: load.depth, window: window, latency: latency, echoed: echoed) }
        }
        // Server CPU is sampled over the measured window only.
        await sleep(untilNanos: window.startNanos)
        let before = context.server?.sample()
        await sleep(untilNanos: window.endNanos)
        let after = context.server?.sample()
        await sleep(untilNanos: window.endNanos + 200_000_000)
        await LinkPool.close(channels)

        var result = BenchResult(scenario: .echo, context: context, target: target, unit: "messages")
        result.messageBytes = load.messageBytes
        result.depth = load.depth
        result.measured(echoed.total, over: window)
        result.latency = latency.summary
        result.serverCPU(from: before, to: after)
        result.finish(context)
        return result
    }
}

/// One echo connection: a ring of send times, one per message in flight (echoes come back in order).
final class EchoDriver: LinkDriver {
    private let payloadText: String
    private var payload: ByteBuffer?
    private let depth: Int
    private let window: MeasurementWindow
    private var latencies: LatencyBatch
    private let echoed: Counter
    private var sendTimes: [UInt64]
    private var head = 0
    private var inFlight = 0
    private var counted: UInt64 = 0

    init(payload: String, depth: Int, window: MeasurementWindow, latency: LatencyRecorder, echoed: Counter) {
        self.payloadText = payload
        self.depth = max(depth, 1)
        self.window = window
        self.latencies = LatencyBatch(recorder: latency)
        self.echoed = echoed
        self.sendTimes = Array(repeating: 0, count: max(depth, 1))
    }

    func linkUp(_ link: LinkHandler) {
        payload = link.allocator.buffer(string: payloadText)
        for _ in 0..<depth { send(link, flush: false) }
        link.flush()
    }

    func received(_ payload: ByteBuffer, atNanos now: UInt64, link: LinkHandler) {
        guard inFlight > 0 else { return }
        let sent = sendTimes[head]
        head = (head + 1) % depth
        inFlight -= 1
        if window.contains(sent) {
            latencies.add(now - sent)
            counted += 1
        }
        if now < window.endNanos { send(link, flush: true) }
    }

    func linkDown() {
        latencies.flush()
        echoed.add(counted)
    }

    private func send(_ link: LinkHandler, flush: Bool) {
        guard let payload else { return }
        sendTimes[(head + inFlight) % depth] = MonotonicClock.nanos()
        inFlight += 1
        link.send(payload, flush: flush)
    }
}
