import BulwarkCore
import BulwarkVenue
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Synchronization

/// A venue process (`bulwark venue`) reached over gRPC: what `bulwark serve --venue grpc://…` uses
/// instead of the built-in venue.
///
/// - Order entry and queries are unary RPCs. While the event stream is down the venue counts as
///   unreachable: orders are refused at once (`venue_unavailable`, nothing was sent) and queries
///   throw `VenueUnavailable`. An order that was sent but whose call failed is refused with
///   `VenueLink.outcomeUnknown`: the gateway answers `status: unknown`, never a plain error.
/// - One server-streaming subscription brings every venue event to this gateway once; `run`
///   keeps it up, reconnecting with backoff (100 ms doubling to 2 s) and resuming after the last
///   sequence seen. When the venue could not replay (its ring moved on, or it restarted) the stream
///   starts from a fresh state and every book subscriber gets a new snapshot.
/// - The books and tickers of the stream are mirrored here, and the mirror is updated and the
///   events handed to the sink under one lock, so `withBookSnapshot` keeps the built-in venue's
///   promise: a subscriber registered in its body sees every later delta and none before.
public final class RemoteVenue: Venue {
    public typealias Transport = HTTP2ClientTransport.Posix

    private let client: GRPCClient<Transport>
    private let stub: Bulwark_Venue_V1_Venue.Client<Transport>
    private let events: any VenueEventSink
    private let callOptions: CallOptions
    private let logger: Logger
    private let mirror = Mutex(Mirror())
    public let address: String

    struct Mirror {
        /// True from the first item of a subscription until the stream breaks.
        var linkUp = false
        var run = ""
        var lastSeq: UInt64 = 0
        var books: [String: BookMirror] = [:]
        var tickers: [String: Ticker] = [:]
        var instruments: [Instrument] = []
    }

    /// - Parameters:
    ///   - timeoutMs: the deadline of each call (the gateway's `venue.timeout_ms`).
    ///   - tls: nil: plaintext (loopback or a private network only).
    public init(host: String, port: Int, tls: VenueClientTLS?, events: any VenueEventSink, timeoutMs: Int64, logger: Logger) throws {
        let target: any ResolvableTarget =
            if host.contains(":") {
                ResolvableTargets.IPv6(addresses: [SocketAddress.IPv6(host: host, port: port)])
            } else if host.allSatisfy({ $0.isNumber || $0 == "." }) {
                ResolvableTargets.IPv4(addresses: [SocketAddress.IPv4(host: host, port: port)])
            } else {
                ResolvableTargets.DNS(host: host, port: port)
            }
        var config = Transport.Config.defaults
        config.backoff.initial = .milliseconds(100)
        config.backoff.max = .seconds(2)
        config.backoff.multiplier = 2
        client = GRPCClient(
            transport: try .http2NIOPosix(target: target, transportSecurity: tls?.transportSecurity ?? .plaintext, config: config))
        stub = Bulwark_Venue_V1_Venue.Client(wrapping: client)
        self.events = events
        var options = CallOptions.defaults
        options.timeout = .milliseconds(timeoutMs)
        options.waitForReady = false
        callOptions = options
        self.logger = logger
        address = "\(tls == nil ? "grpc" : "grpcs")://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    /// Whether the event stream is up (the venue is considered reachable).
    public var isLinkUp: Bool { mirror.withLock { $0.linkUp } }

    // MARK: Running the link

    /// Keeps the connection and the event stream up until cancelled. `onConnected` runs after
    /// each (re)subscription, once the instruments are known (the gateway re-sends deposits there).
    public func run(onConnected: @escaping @Sendable () async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await self.client.runConnections()
                } catch {
                    self.logger.error("venue client stopped", metadata: ["error": "\(error)"])
                }
            }
            group.addTask { await self.followEvents(onConnected: onConnected) }
            await group.next()
            self.client.beginGracefulShutdown()
            group.cancelAll()
        }
    }

    private func followEvents(onConnected: @escaping @Sendable () async -> Void) async {
        var delayMs: Int64 = 100
        // One log line per outage (the first failed attempt), not one per retry.
        var reported = false
        while !Task.isCancelled {
            let (run, after) = mirror.withLock { ($0.run, $0.lastSeq) }
            var request = Bulwark_Venue_V1_SubscribeRequest()
            request.venueRun = run
            request.afterSeq = after
            var options = CallOptions.defaults
            options.waitForReady = false
            do {
                let received = try await stub.subscribe(request, options: options) { response in
                    var count = 0
                    for try await item in response.messages {
                        let first = try self.receive(item)
                        if first {
                            Task {
                                await self.refreshInstruments()
                                await onConnected()
                            }
                        }
                        count += 1
                    }
                    return count
                }
                if received > 0 { delayMs = 100 }
                reported = linkDown(reason: "the venue ended the event stream", reported: reported && received == 0)
            } catch {
                let wasUp = mirror.withLock { $0.linkUp }
                if wasUp { delayMs = 100 }
                reported = linkDown(reason: "\(error)", reported: reported && !wasUp)
            }
            try? await Task.sleep(for: .milliseconds(delayMs))
            delayMs = min(delayMs * 2, 2000)
        }
    }

    /// Marks the link down and logs it unless this outage was reported already; returns true.
    private func linkDown(reason: String, reported: Bool) -> Bool {
        let wasUp = mirror.withLock { state in
            defer { state.linkUp = false }
            return state.linkUp
        }
        if wasUp {
            logger.error("venue link down; orders are refused until it is back", metadata: ["venue": "\(address)", "reason": "\(reason)"])
        } else if !reported {
            logger.error("venue unreachable; retrying", metadata: ["venue": "\(address)", "reason": "\(reason)"])
        }
        return true
    }

    /// Applies one stream item; true for the first item of a subscription.
    private func receive(_ item: Bulwark_Venue_V1_StreamItem) throws -> Bool {
        switch item.item {
        case .state(let state):
            if state.resumed {
                mirror.withLock { mirror in
                    mirror.linkUp = true
                }
                logger.info("venue link up; resumed the event stream", metadata: ["venue": "\(address)", "after_seq": "\(item.seq)"])
                return true
            }
            let books = try state.books.map(Wire.snapshot)
            let tickers = try state.tickers.map(Wire.ticker)
            mirror.withLock { mirror in
                mirror.run = state.venueRun
                mirror.lastSeq = item.seq
                mirror.books = Dictionary(books.map { ($0.instrument, BookMirror($0)) }, uniquingKeysWith: { first, _ in first })
                mirror.tickers = Dictionary(tickers.map { ($0.instrument, $0) }, uniquingKeysWith: { first, _ in first })
                mirror.linkUp = true
                events.venueBooksReset(books)
            }
            if state.gap {
                logger.warning(
                    "venue event stream restarted from a fresh state: events since the link broke were missed (books re-snapshotted)",
                    metadata: ["venue": "\(address)", "venue_run": "\(state.venueRun)"])
            } else {
                logger.info("venue link up", metadata: ["venue": "\(address)", "venue_run": "\(state.venueRun)", "seq": "\(item.seq)"])
            }
            return true
        case .events(let batch):
            let decoded = try batch.events.map(Wire.event)
            try mirror.withLock { mirror in
                try Self.checkOrder(item.seq, &mirror)
                for case .bookDelta(let instrument, let seq, let changes) in decoded {
                    if mirror.books[instrument]?.apply(seq: seq, changes: changes) == false {
                        // Cannot happen with an in-order stream; start over rather than serve a wrong book.
                        mirror.run = ""
                        throw WireError("book \(instrument) delta \(seq) out of order")
                    }
                }
                events.venueEvents(decoded)
            }
            return false
        case .tickers(let batch):
            let decoded = try batch.tickers.map(Wire.ticker)
            try mirror.withLock { mirror in
                try Self.checkOrder(item.seq, &mirror)
                for ticker in decoded { mirror.tickers[ticker.instrument] = ticker }
                events.venueTickers(decoded)
            }
            return false
        case nil:
            throw WireError("empty stream item")
        }
    }

    /// Items are numbered without gaps; anything else means this copy is wrong: start over.
    private static func checkOrder(_ seq: UInt64, _ mirror: inout Mirror) throws {
        guard seq == mirror.lastSeq + 1 else {
            mirror.run = ""
            throw WireError("stream item \(seq) after \(mirror.lastSeq)")
        }
        mirror.lastSeq = seq
    }

    private func refreshInstruments() async {
        guard let list = try? await stub.instruments(Bulwark_Venue_V1_InstrumentsRequest(), options: callOptions),
            let instruments = try? list.instruments.map(Wire.instrument)
        else { return }
        mirror.withLock { $0.instruments = instruments }
    }

    // MARK: Calls

    /// A call made only while the link is up; any failure is `VenueUnavailable`.
    private func call<T: Sendable>(_ body: (Bulwark_Venue_V1_Venue.Client<Transport>, CallOptions) async throws -> T) async throws(VenueUnavailable) -> T {
        guard isLinkUp else { throw VenueUnavailable() }
        do {
            return try await body(stub, callOptions)
        } catch {
            logger.warning("venue call failed", metadata: ["venue": "\(address)", "error": "\(error)"])
            throw VenueUnavailable()
        }
    }

    public func instruments() async throws(VenueUnavailable) -> [Instrument] {
        let cached = mirror.withLock { $0.instruments }
        if !cached.isEmpty { return cached }
        let list = try await call { stub, options in try await stub.instruments(Bulwark_Venue_V1_InstrumentsRequest(), options: options) }
        guard let instruments = try? list.instruments.map(Wire.instrument) else { throw VenueUnavailable() }
        mirror.withLock { $0.instruments = instruments }
        return instruments
    }

    public func hasInstrument(_ symbol: String) async throws(VenueUnavailable) -> Bool {
        try await instruments().contains { $0.symbol == symbol }
    }

    public func place(_ request: OrderRequest, nowMs: Int64) async -> Result<PlaceOutcome, OrderRejection> {
        guard isLinkUp else { return .failure(VenueLink.unavailableRejection) }
        var message = Bulwark_Venue_V1_PlaceRequest()
        message.request = Wire.message(request)
        message.nowMs = nowMs
        let reply: Bulwark_Venue_V1_PlaceReply
        do {
            reply = try await stub.place(message, options: callOptions)
        } catch {
            // It may have reached the venue: the outcome is unknown, not a refusal.
            logger.warning("order sent to the venue without an answer", metadata: ["venue": "\(address)", "error": "\(error)"])
            return .failure(VenueLink.outcomeUnknownRejection)
        }
        switch reply.result {
        case .outcome(let outcome):
            guard let order = try? Wire.order(outcome.order), let trades = try? outcome.trades.map(Wire.trade) else {
                return .failure(VenueLink.outcomeUnknownRejection)
            }
            return .success(PlaceOutcome(order: order, duplicate: outcome.duplicate, trades: trades, events: []))
        case .rejection(let rejection):
            return .failure(Wire.rejection(rejection))
        case nil:
            return .failure(VenueLink.outcomeUnknownRejection)
        }
    }

    public func cancel(accountID: String, orderID: String, nowMs: Int64) async -> Result<Order, OrderRejection> {
        var message = Bulwark_Venue_V1_CancelRequest()
        message.accountID = accountID
        message.orderID = orderID
        message.nowMs = nowMs
        return await orderReply { stub, options in try await stub.cancel(message, options: options) }
    }

    public func amend(
        accountID: String, orderID: String, newPrice: FixedDecimal?, newQty: FixedDecimal?, nowMs: Int64, maxNotional: FixedDecimal?
    ) async -> Result<Order, OrderRejection> {
        var message = Bulwark_Venue_V1_AmendRequest()
        message.accountID = accountID
        message.orderID = orderID
        if let newPrice { message.newPrice = newPrice.description }
        if let newQty { message.newQty = newQty.description }
        if let maxNotional { message.maxNotional = maxNotional.description }
        message.nowMs = nowMs
        return await orderReply { stub, options in try await stub.amend(message, options: options) }
    }

    private func orderReply(
        _ body: (Bulwark_Venue_V1_Venue.Client<Transport>, CallOptions) async throws -> Bulwark_Venue_V1_OrderReply
    ) async -> Result<Order, OrderRejection> {
        guard let reply = try? await call(body) else { return .failure(VenueLink.unavailableRejection) }
        switch reply.result {
        case .order(let order):
            guard let decoded = try? Wire.order(order) else { return .failure(VenueLink.unavailableRejection) }
            return .success(decoded)
        case .rejection(let rejection): return .failure(Wire.rejection(rejection))
        case nil: return .failure(VenueLink.unavailableRejection)
        }
    }

    public func cancelAll(accountID: String, instrument: String?, reason: CancelReason, nowMs: Int64) async -> [Order] {
        var message = Bulwark_Venue_V1_CancelAllRequest()
        message.accountID = accountID
        if let instrument { message.instrument = instrument }
        message.reason = reason.rawValue
        message.nowMs = nowMs
        guard let list = try? await call({ stub, options in try await stub.cancelAll(message, options: options) }) else {
            logger.error("cancel all: venue unreachable", metadata: ["venue": "\(address)", "account": "\(accountID)"])
            return []
        }
        return (try? Wire.orders(list.orders)) ?? []
    }

    @discardableResult
    public func applyDeposits(_ deposits: [VenueDeposit], nowMs: Int64) async throws(VenueUnavailable) -> Int {
        guard !deposits.isEmpty else { return 0 }
        var message = Bulwark_Venue_V1_DepositsRequest()
        message.deposits = deposits.map(Wire.message)
        message.nowMs = nowMs
        return Int(try await call { stub, options in try await stub.applyDeposits(message, options: options) }.credited)
    }

    public func order(accountID: String, orderID: String) async throws(VenueUnavailable) -> Order? {
        var query = Bulwark_Venue_V1_OrderQuery()
        query.accountID = accountID
        query.orderID = orderID
        return try await lookup(query)
    }

    public func order(accountID: String, clientOrderID: String) async throws(VenueUnavailable) -> Order? {
        var query = Bulwark_Venue_V1_OrderQuery()
        query.accountID = accountID
        query.clientOrderID = clientOrderID
        return try await lookup(query)
    }

    private func lookup(_ query: Bulwark_Venue_V1_OrderQuery) async throws(VenueUnavailable) -> Order? {
        let reply = try await call { stub, options in try await stub.getOrder(query, options: options) }
        guard reply.hasOrder else { return nil }
        guard let order = try? Wire.order(reply.order) else { throw VenueUnavailable() }
        return order
    }

    private func accountQuery(_ accountID: String) -> Bulwark_Venue_V1_AccountQuery {
        var query = Bulwark_Venue_V1_AccountQuery()
        query.accountID = accountID
        return query
    }

    public func openOrders(accountID: String) async throws(VenueUnavailable) -> [Order] {
        let query = accountQuery(accountID)
        let list = try await call { stub, options in try await stub.openOrders(query, options: options) }
        guard let orders = try? Wire.orders(list.orders) else { throw VenueUnavailable() }
        return orders
    }

    public func balances(accountID: String) async throws(VenueUnavailable) -> [Balance] {
        let query = accountQuery(accountID)
        let list = try await call { stub, options in try await stub.balances(query, options: options) }
        guard let balances = try? list.balances.map(Wire.balance) else { throw VenueUnavailable() }
        return balances
    }

    public func positions(accountID: String) async throws(VenueUnavailable) -> [Position] {
        let query = accountQuery(accountID)
        let list = try await call { stub, options in try await stub.positions(query, options: options) }
        guard let positions = try? list.positions.map(Wire.position) else { throw VenueUnavailable() }
        return positions
    }

    // MARK: Market data from the mirror

    public func bestBidAsk(instrument: String) async -> (bid: FixedDecimal?, ask: FixedDecimal?) {
        mirror.withLock { mirror in
            guard let book = mirror.books[instrument] else { return (nil, nil) }
            return (book.bestBid, book.bestAsk)
        }
    }

    public func withBookSnapshot(instrument: String, _ body: @Sendable (BookSnapshot) -> Void) async -> Bool {
        mirror.withLock { mirror in
            guard let book = mirror.books[instrument] else { return false }
            body(book.snapshot)
            return true
        }
    }

    public func withTicker(instrument: String, _ body: @Sendable (Ticker) -> Void) async -> Bool {
        mirror.withLock { mirror in
            guard let ticker = mirror.tickers[instrument] else { return false }
            body(ticker)
            return true
        }
    }
}
