import NIOCore

/// Authenticated order round trip: each connection logs in with its own account and key, then
/// places resting bids at its share of the target rate and cancels each as soon as it is accepted.
/// The headline latency is the place round trip (send to response); cancels are reported too.
enum OrderScenario {
    static func run(_ context: ScenarioContext, target: String) async -> BenchResult {
        let load = context.load
        var result = BenchResult(scenario: .orders, context: context, target: target, unit: "orders")
        result.targetRate = load.rate
        result.depth = load.depth
        let place = LatencyRecorder()
        let cancel = LatencyRecorder()
        let placed = Counter()
        let loggedIn = Counter()
        let identities: [BenchIdentity]
        do {
            identities = try (0..<load.connections).map { try context.identity("trader\($0)") }
        } catch {
            context.failures.record("provisioning: \(error)")
            result.finish(context)
            return result
        }
        await context.settleProvisioning()
        let perConnectionRate = load.rate / Double(max(load.connections, 1))
        let window = MeasurementWindow(warmupSeconds: load.warmupSeconds, durationSeconds: load.durationSeconds)
        let channels = await LinkPool.open(load.connections, context: context, path: "/ws/v1", subprotocol: "bulwark.v1") { index in
            let identity = identities[index]
            return {
                OrderDriver(
                    identity: identity, rate: perConnectionRate, depth: load.depth, window: window, place: place, cancel: cancel, placed: placed,
                    loggedIn: loggedIn, failures: context.failures)
            }
        }
        if !(await waitUntil(timeoutSeconds: 30, { loggedIn.total == UInt64(channels.count) })) {
            context.failures.record("only \(loggedIn.total) of \(channels.count) traders logged in")
        }
        // Server CPU is sampled over the measured window only.
        await sleep(untilNanos: window.startNanos)
        let before = context.server?.sample()
        await sleep(untilNanos: window.endNanos)
        let after = context.server?.sample()
        await sleep(untilNanos: window.endNanos + 300_000_000)
        await LinkPool.close(channels)
        result.measured(placed.total, over: window)
        result.latency = place.summary
        result.latencies = ["place": place.summary, "cancel": cancel.summary]
        result.serverCPU(from: before, to: after)
        result.finish(context)
        return result
    }
}

/// One trader connection: paced places, each cancelled on acceptance.
final class OrderDriver: LinkDriver {
    private enum Request {
        case place(clientOrderID: String, sentNanos: UInt64)
        case cancel(sentNanos: UInt64)
    }

    private var opening: SessionOpening
    private var schedule: PacedSchedule
    private let window: MeasurementWindow
    private var placeLatencies: LatencyBatch
    private var cancelLatencies: LatencyBatch
    private let placed: Counter
    private let loggedIn: Counter
    private let failures: FailureLog
    private var pending: [Int: Request] = [:]
    private var nextID = 1000
    private var counted: UInt64 = 0
    private let label = ShortLabel.next()

    init(
        identity: BenchIdentity, rate: Double, depth: Int, window: MeasurementWindow, place: LatencyRecorder, cancel: LatencyRecorder,
        placed: Counter, loggedIn: Counter, failures: FailureLog
    ) {
        self.opening = SessionOpening(identity: identity)
        self.schedule = PacedSchedule(rate: rate, depth: depth, window: window)
        self.window = window
        self.placeLatencies = LatencyBatch(recorder: place)
        self.cancelLatencies = LatencyBatch(recorder: cancel)
        self.placed = placed
        self.loggedIn = loggedIn
        self.failures = failures
    }

    func linkUp(_ link: LinkHandler) {}

    func received(_ payload: ByteBuffer, atNanos now: UInt64, link: LinkHandler) {
        if !opening.isOpen {
            switch opening.consume(payload, link: link) {
            case .pending: return
            case .failed(let reason):
                failures.record("trader: \(reason)")
                link.close()
            case .open:
                loggedIn.add()
                start(link)
            }
            return
        }
        guard let response = MessagePeek.response(payload), let request = pending.removeValue(forKey: response.id) else { return }
        guard response.succeeded else {
            failures.record("order refused: \(MessagePeek.excerpt(payload))")
            return
        }
        switch request {
        case .place(let clientOrderID, let sent):
            if window.contains(sent) {
                placeLatencies.add(now - sent)
                counted += 1
            }
            nextID += 1
            pending[nextID] = .cancel(sentNanos: MonotonicClock.nanos())
            link.send(link.allocator.buffer(string: DemoOrders.cancel(id: nextID, clientOrderID: clientOrderID)))
        case .cancel(let sent):
            if window.contains(sent) { cancelLatencies.add(now - sent) }
            if schedule.isClosedLoop { placeDue(link, now: now) }
        }
    }

    func linkDown() {
        schedule.stop()
        placeLatencies.flush()
        cancelLatencies.flush()
        placed.add(counted)
    }

    private func start(_ link: LinkHandler) {
        guard let loop = link.eventLoop else { return }
        schedule.start(on: loop) { [self] in placeDue(link, now: MonotonicClock.nanos()) }
        if schedule.isClosedLoop { placeDue(link, now: MonotonicClock.nanos()) }
    }

    /// Sends the places the schedule says are due, keeping at most `depth` requests unanswered
    /// (the gateway answers more than `ws.max_in_flight` with rate_limited).
    private func placeDue(_ link: LinkHandler, now: UInt64) {
        let allowed = schedule.allowance(now: now, unanswered: pending.count)
        for _ in 0..<allowed {
            nextID += 1
            let clientOrderID = "o\(label)-\(nextID)"
            pending[nextID] = .place(clientOrderID: clientOrderID, sentNanos: MonotonicClock.nanos())
            let order = DemoOrders.place(
                id: nextID, side: "buy", qty: DemoOrders.takerQty, price: DemoOrders.restingBidPrice, tif: "gtc", clientOrderID: clientOrderID)
            link.send(link.allocator.buffer(string: order), flush: false)
        }
        if allowed > 0 { link.flush() }
    }
}
