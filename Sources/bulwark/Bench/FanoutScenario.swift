import NIOConcurrencyHelpers
import NIOCore

/// Fan-out: N subscribers on `trades.BTC-USD`, one publisher. A maker account rests large sells at
/// 60000; the publisher (a taker account) buys 0.0001 at 60000 IOC at the target rate, so every
/// accepted order is exactly one trade, published to every subscriber. Delivery latency runs from
/// the publisher's send to a subscriber's receipt (one clock: all in this process).
enum FanoutScenario {
    static func run(_ context: ScenarioContext, target: String) async -> BenchResult {
        let load = context.load
        let latency = LatencyRecorder()
        let deliveries = Counter()
        let subscribed = Counter()
        let log = PublicationLog()
        var result = BenchResult(scenario: .fanout, context: context, target: target, unit: "deliveries")
        result.subscribers = load.connections
        result.targetRate = load.rate
        result.depth = load.depth

        // The window is fixed once subscribers and the maker are ready; subscribers read it when
        // the run ends, so it travels in a box.
        let windowBox = NIOLockedValueBox<MeasurementWindow?>(nil)
        let subscribers = await LinkPool.open(load.connections, context: context, path: "/ws/v1", subprotocol: "bulwark.v1") { _ in
            { SubscriberDriver(subscribed: subscribed, log: log, window: windowBox, latency: latency, deliveries: deliveries, failures: context.failures) }
        }
        guard await waitUntil(timeoutSeconds: 60, { subscribed.total == UInt64(subscribers.count) }) else {
            context.failures.record("only \(subscribed.total) of \(subscribers.count) subscribers confirmed")
            await LinkPool.close(subscribers)
            result.finish(context)
            return result
        }

        do {
            let makerReady = Counter()
            let maker = try context.identity("maker")
            let taker = try context.identity("taker")
            await context.settleProvisioning()
            let makerChannels = await LinkPool.open(1, context: context, path: "/ws/v1", subprotocol: "bulwark.v1") { _ in
                { MakerDriver(identity: maker, ready: makerReady, failures: context.failures) }
            }
            guard await waitUntil(timeoutSeconds: 30, { makerReady.total == 1 }) else {
                context.failures.record("the maker's resting sells were not accepted")
                await LinkPool.close(makerChannels + subscribers)
                result.finish(context)
                return result
            }
            let window = MeasurementWindow(warmupSeconds: load.warmupSeconds, durationSeconds: load.durationSeconds)
            windowBox.withLockedValue { $0 = window }
            let publishers = await LinkPool.open(1, context: context, path: "/ws/v1", subprotocol: "bulwark.v1") { _ in
                { PublisherDriver(identity: taker, rate: load.rate, depth: load.depth, window: window, log: log, failures: context.failures) }
            }
            // Server CPU is sampled over the measured window only.
            await sleep(untilNanos: window.startNanos)
            let before = context.server?.sample()
            await sleep(untilNanos: window.endNanos)
            let after = context.server?.sample()
            await sleep(untilNanos: window.endNanos + 500_000_000)
            await LinkPool.close(publishers + makerChannels + subscribers)
            result.measured(deliveries.total, over: window)
            result.publications = UInt64(log.times.filter(window.contains).count)
            result.latency = latency.summary
            result.serverCPU(from: before, to: after)
        } catch {
            context.failures.record("provisioning: \(error)")
            await LinkPool.close(subscribers)
        }
        result.finish(context)
        return result
    }
}

/// Send times of the publisher's orders that traded, in trade order.
final class PublicationLog: Sendable {
    private let box = NIOLockedValueBox<[UInt64]>([])
    func append(_ nanos: UInt64) { box.withLockedValue { $0.append(nanos) } }
    var times: [UInt64] { box.withLockedValue { $0 } }
}

/// A subscriber: hello, subscribe to the trades channel, then note when each trade arrives.
final class SubscriberDriver: LinkDriver {
    private var opening = SessionOpening(identity: nil)
    private var isSubscribed = false
    private var arrivals: [UInt64] = []
    private let subscribed: Counter
    private let log: PublicationLog
    private let window: NIOLockedValueBox<MeasurementWindow?>
    private let latency: LatencyRecorder
    private let deliveries: Counter
    private let failures: FailureLog
    private static let channelPrefix = Array("trades.\(DemoOrders.instrument)\"".utf8)
    private static let subscribeID = 2

    init(
        subscribed: Counter, log: PublicationLog, window: NIOLockedValueBox<MeasurementWindow?>, latency: LatencyRecorder,
        deliveries: Counter, failures: FailureLog
    ) {
        self.subscribed = subscribed
        self.log = log
        self.window = window
        self.latency = latency
        self.deliveries = deliveries
        self.failures = failures
    }

    func linkUp(_ link: LinkHandler) {}

    func received(_ payload: ByteBuffer, atNanos now: UInt64, link: LinkHandler) {
        if isSubscribed {
            if MessagePeek.isNotification(payload, channelPrefix: Self.channelPrefix) { arrivals.append(now) }
            return
        }
        if !opening.isOpen {
            switch opening.consume(payload, link: link) {
            case .pending: return
            case .failed(let reason):
                failures.record(reason)
                link.close()
                return
            case .open:
                link.send(link.allocator.buffer(string: DemoOrders.subscribe(id: Self.subscribeID)))
                return
            }
        }
        if let response = MessagePeek.response(payload), response.id == Self.subscribeID {
            guard response.succeeded else {
                failures.record("subscribe refused: \(MessagePeek.excerpt(payload))")
                return
            }
            isSubscribed = true
            subscribed.add()
        }
    }

    /// The k-th trade received is the k-th publication: pair them up now that the run is over.
    func linkDown() {
        guard let window = window.withLockedValue({ $0 }) else { return }
        let published = log.times
        var batch = LatencyBatch(recorder: latency)
        var counted: UInt64 = 0
        for (index, arrival) in arrivals.enumerated() where index < published.count && window.contains(published[index]) {
            batch.add(arrival &- published[index])
            counted += 1
        }
        batch.flush()
        deliveries.add(counted)
    }
}

/// The maker: logs in with cancel-on-disconnect, and rests sells at the crossing price for the
/// publisher to hit; the gateway cancels what is left when the run closes the connection.
final class MakerDriver: LinkDriver {
    private var opening: SessionOpening
    private let ready: Counter
    private let failures: FailureLog
    private let orders = 4
    private var accepted = 0

    init(identity: BenchIdentity, ready: Counter, failures: FailureLog) {
        self.opening = SessionOpening(identity: identity, cancelOnDisconnect: true)
        self.ready = ready
        self.failures = failures
    }

    func linkUp(_ link: LinkHandler) {}

    func received(_ payload: ByteBuffer, atNanos: UInt64, link: LinkHandler) {
        if !opening.isOpen {
            switch opening.consume(payload, link: link) {
            case .pending: return
            case .failed(let reason):
                failures.record("maker: \(reason)")
                link.close()
            case .open:
                let label = ShortLabel.next()
                for index in 0..<orders {
                    let order = DemoOrders.place(
                        id: 100 + index, side: "sell", qty: DemoOrders.makerQty, price: DemoOrders.crossingPrice, tif: "gtc",
                        clientOrderID: "mk\(label)\(index)")
                    link.send(link.allocator.buffer(string: order), flush: false)
                }
                link.flush()
            }
            return
        }
        guard let response = MessagePeek.response(payload), (100..<100 + orders).contains(response.id) else { return }
        if response.succeeded {
            accepted += 1
            if accepted == orders { ready.add() }
        } else {
            failures.record("maker order refused: \(MessagePeek.excerpt(payload))")
        }
    }

    func linkDown() {}
}

/// The publisher: crossing IOC buys at the target rate, at most `depth` unanswered.
final class PublisherDriver: LinkDriver {
    private var opening: SessionOpening
    private var schedule: PacedSchedule
    private let log: PublicationLog
    private let failures: FailureLog
    private var pending: [Int: UInt64] = [:]
    private var nextID = 1000
    private let label = ShortLabel.next()

    init(identity: BenchIdentity, rate: Double, depth: Int, window: MeasurementWindow, log: PublicationLog, failures: FailureLog) {
        self.opening = SessionOpening(identity: identity)
        self.schedule = PacedSchedule(rate: rate, depth: depth, window: window)
        self.log = log
        self.failures = failures
    }

    func linkUp(_ link: LinkHandler) {}

    func received(_ payload: ByteBuffer, atNanos now: UInt64, link: LinkHandler) {
        if !opening.isOpen {
            switch opening.consume(payload, link: link) {
            case .pending: return
            case .failed(let reason):
                failures.record("publisher: \(reason)")
                link.close()
            case .open:
                start(link)
            }
            return
        }
        guard let response = MessagePeek.response(payload), let sent = pending.removeValue(forKey: response.id) else { return }
        if response.succeeded {
            log.append(sent)
        } else {
            failures.record("publication refused: \(MessagePeek.excerpt(payload))")
        }
        if schedule.isClosedLoop { publishDue(link, now: now) }
    }

    func linkDown() { schedule.stop() }

    private func start(_ link: LinkHandler) {
        guard let loop = link.eventLoop else { return }
        schedule.start(on: loop) { [self] in publishDue(link, now: MonotonicClock.nanos()) }
        if schedule.isClosedLoop { publishDue(link, now: MonotonicClock.nanos()) }
    }

    private func publishDue(_ link: LinkHandler, now: UInt64) {
        let allowed = schedule.allowance(now: now, unanswered: pending.count)
        for _ in 0..<allowed {
            nextID += 1
            let order = DemoOrders.place(
                id: nextID, side: "buy", qty: DemoOrders.takerQty, price: DemoOrders.crossingPrice, tif: "ioc", clientOrderID: "pb\(label)\(nextID)")
            pending[nextID] = MonotonicClock.nanos()
            link.send(link.allocator.buffer(string: order), flush: false)
        }
        if allowed > 0 { link.flush() }
    }
}

/// Short unique labels for client order ids (they must be unique per account for a run).
enum ShortLabel {
    private static let counter = NIOLockedValueBox(0)
    static func next() -> String { String(counter.withLockedValue { $0 += 1; return $0 }, radix: 36) }
}
