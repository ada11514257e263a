import BulwarkCore
import Dispatch

/// Receives the venue's events (market data and private updates), in order, from inside the
/// venue's serialization. Implementations must not block.
public protocol VenueEventSink: AnyObject, Sendable {
    func venueEvents(_ events: [EngineEvent])
    /// The tickers of the instruments an operation changed (after its events).
    func venueTickers(_ tickers: [Ticker])
    /// A remote venue's stream started over from a fresh state (events were missed): these are
    /// the books now; subscribers must start again from them.
    func venueBooksReset(_ snapshots: [BookSnapshot])
}

extension VenueEventSink {
    public func venueTickers(_ tickers: [Ticker]) {}
    public func venueBooksReset(_ snapshots: [BookSnapshot]) {}
}

/// A deposit to credit once (its id makes crediting idempotent).
public struct VenueDeposit: Sendable {
    public let id: Int64
    public let accountID: String
    public let asset: String
    public let amount: FixedDecimal

    public init(id: Int64, accountID: String, asset: String, amount: FixedDecimal) {
        self.id = id
        self.accountID = accountID
        self.asset = asset
        self.amount = amount
    }
}

/// The built-in venue: one matching engine behind an actor, so every operation is applied,
/// journaled and its events published in one serial order. The gateway talks to it through async
/// calls; an external venue (over gRPC, in the scale-out milestone) will offer the same operations.
///
/// Durability: with a journal, every operation that changes state is appended to it (and the
/// journal returns only once the entry is durable) BEFORE the caller gets its result and before
/// any event is published. `recover()` rebuilds the state from the journal at start. If an append
/// fails, the venue stops: every later operation is refused (`internal_error`,
/// `venue_stopped`) until a restart, because its memory now holds an operation the journal lacks.
///
/// Group commit: the sync runs off the actor (on `journalQueue`), and operations that arrive
/// while one runs are applied and journaled together by the next, in one transaction and one
/// sync; each is still answered and published only once its entry is durable, batches in order.
/// One sync per batch rather than per operation is what lets the order rate exceed the disk's
/// sync rate. Meanwhile the engine is ahead of what was published, so every answer that shows
/// state (queries, snapshots, refusals, duplicates) first waits until nothing applied is
/// unpublished (`settled()`), and operations arriving while such a reader waits are held back
/// until it has run: nobody hears of an operation before it is durable, and a book snapshot is
/// always of the published book.
public actor BuiltinVenue {
    /// The venue's life: a journaled venue must be recovered before it trades.
    enum Phase {
        case awaitingRecovery
        case running
        case stopped(reason: String)
    }

    public struct Settings: Sendable {
        public var journal: (any VenueJournal)?
        public var accountLimits: AccountLimits
        /// Levels per side on `book.*` (nil: all).
        public var bookDepth: Int?

        public init(journal: (any VenueJournal)? = nil, accountLimits: AccountLimits = .none, bookDepth: Int? = nil) {
            self.journal = journal
            self.accountLimits = accountLimits
            self.bookDepth = bookDepth
        }
    }

    /// What one command did.
    struct Applied {
        var order: Order?
        var duplicate = false
        var orders: [Order] = []
        var events: [EngineEvent] = []
        /// False for commands that changed nothing (duplicates, no-op amends, deposits seen before):
        /// those are not journaled.
        var changed = true
    }

    private var engine: MatchingEngine
    private weak var events: (any VenueEventSink)?
    private let journal: (any VenueJournal)?
    private let accountLimits: AccountLimits
    private var phase: Phase
    private var creditedDeposits = Set<Int64>()
    private var depthViews: BookDepthViews
    private var tickers = TickerBoard()
    private var simulator = LiquiditySimulator()
    /// The time of the last applied operation (the venue has no clock of its own).
    private var lastOperationMs: Int64 = 0
    /// Applied operations waiting for their journal entry to be durable (see "Group commit").
    private var commits = GroupCommitQueue()
    /// Where journal appends (and their sync) run, so that they block no thread of Swift's pool.
    private let journalQueue = DispatchQueue(label: "bulwark.venue.journal")

    public init(instruments: [Instrument], events: any VenueEventSink, settings: Settings = Settings()) {
        engine = MatchingEngine(instruments: instruments)
        engine.accountLimits = settings.accountLimits
        accountLimits = settings.accountLimits
        self.events = events
        journal = settings.journal
        depthViews = BookDepthViews(depth: settings.bookDepth)
        phase = settings.journal == nil ? .running : .awaitingRecovery
    }

    // MARK: Recovery

    /// Rebuilds books, orders, balances and positions by applying the journal's commands again, in
    /// order, with their original times and without account limits (what was accepted once is
    /// accepted again whatever today's configuration says). Nothing is published. Throws, and the
    /// venue stays unusable, if an entry cannot be read or replays differently from what it
    /// recorded.
    public func recover() throws -> RecoveryReport {
        guard case .awaitingRecovery = phase, let journal else { return RecoveryReport() }
        var report = RecoveryReport()
        engine.accountLimits = .none
        defer { engine.accountLimits = accountLimits }
        for (index, entry) in try journal.entries().enumerated() {
            guard let command = VenueCommand(encoded: entry.command) else {
                throw JournalRecoveryError.unreadable(index: index, command: entry.command)
            }
            switch run(command, nowMs: entry.atMs) {
            case .failure(let rejection):
                throw JournalRecoveryError.refused(index: index, command: entry.command, code: rejection.code, reason: rejection.reason)
            case .success(let applied):
                let replayed = JournalOutcome.describe(applied.events)
                guard replayed == entry.outcome else {
                    throw JournalRecoveryError.diverged(index: index, command: entry.command, recorded: entry.outcome, replayed: replayed)
                }
                for case .trade(let trade) in applied.events { tickers.record(trade) }
            }
            lastOperationMs = max(lastOperationMs, entry.atMs)
            report.entries += 1
        }
        report.orders = engine.orderCount
        report.openOrders = engine.openOrderCount
        report.fills = Int(engine.nextTradeNumber - 1)
        depthViews.reset(from: engine)
        phase = .running
        return report
    }

    /// Why the venue refuses operations, when it does.
    public var stoppedReason: String? {
        switch phase {
        case .running: nil
        case .awaitingRecovery: "not recovered"
        case .stopped(let reason): reason
        }
    }

    // MARK: Operations

    public func instruments() -> [Instrument] { engine.listInstruments }

    public func hasInstrument(_ symbol: String) -> Bool { engine.instrument(symbol) != nil }

    public func place(_ request: OrderRequest, nowMs: Int64) async -> Result<PlaceOutcome, OrderRejection> {
        await execute(.place(request), nowMs: nowMs).map { applied in
            PlaceOutcome(
                order: applied.order!, duplicate: applied.duplicate,
                trades: applied.events.compactMap { if case .trade(let trade) = $0 { trade } else { nil } }, events: applied.events)
        }
    }

    public func cancel(accountID: String, orderID: String, nowMs: Int64) async -> Result<Order, OrderRejection> {
        await execute(.cancel(accountID: accountID, orderID: orderID), nowMs: nowMs).map { $0.order! }
    }

    public func cancel(accountID: String, clientOrderID: String, nowMs: Int64) async -> Result<Order, OrderRejection> {
        await settled()
        guard let order = engine.order(accountID: accountID, clientOrderID: clientOrderID) else {
            return .failure(OrderRejection(.orderNotFound, field: "params.client_order_id"))
        }
        return await cancel(accountID: accountID, orderID: order.orderID, nowMs: nowMs)
    }

    /// See `MatchingEngine.amend`: a price change or a size increase loses time priority.
    public func amend(
        accountID: String, orderID: String, newPrice: FixedDecimal?, newQty: FixedDecimal?, nowMs: Int64,
        maxNotional: FixedDecimal? = nil
    ) async -> Result<Order, OrderRejection> {
        await execute(.amend(accountID: accountID, orderID: orderID, price: newPrice, qty: newQty, maxNotional: maxNotional), nowMs: nowMs)
            .map { $0.order! }
    }

    /// Cancels the account's resting orders; empty also when the venue is stopped.
    public func cancelAll(accountID: String, instrument: String?, reason: CancelReason = .cancelAll, nowMs: Int64) async -> [Order] {
        (try? await execute(.cancelAll(accountID: accountID, instrument: instrument, reason: reason), nowMs: nowMs).get())?.orders ?? []
    }

    /// Halts or resumes an instrument; false for an unknown symbol (or a stopped venue).
    @discardableResult
    public func setStatus(_ status: Instrument.Status, of symbol: String, nowMs: Int64 = 0) async -> Bool {
        guard engine.instrument(symbol) != nil, case .success = await execute(.setStatus(symbol: symbol, status: status), nowMs: nowMs) else {
            return false
        }
        return true
    }

    /// Credits deposits not credited before; returns how many were new.
    @discardableResult
    public func applyDeposits(_ deposits: [VenueDeposit], nowMs: Int64 = 0) async -> Int {
        var credited = 0
        for deposit in deposits where !creditedDeposits.contains(deposit.id) {
            if case .success(let applied) = await execute(.deposit(deposit), nowMs: nowMs), applied.changed { credited += 1 }
        }
        return credited
    }

    /// Rests the demo market's ladder of house orders. Its client order ids are fixed, so after a
    /// restart (the journal restored the book) the ladder's orders are duplicates and change nothing.
    public func seedHouseLiquidity(accountID: String, nowMs: Int64) async {
        for request in DemoMarket.houseLadder(accountID: accountID, instruments: engine.listInstruments) {
            _ = await execute(.place(request), nowMs: nowMs)
        }
    }

    /// One step of the demo liquidity simulator for the house account (see `LiquiditySimulator`).
    public func simulateLiquidity(accountID: String, nowMs: Int64, seed: UInt64) async {
        for command in simulator.step(accountID: accountID, engine: engine, nowMs: nowMs, seed: seed) {
            _ = await execute(command, nowMs: nowMs)
        }
    }

    // MARK: Queries (of the published state: each waits until nothing applied is unpublished)

    public func order(accountID: String, orderID: String) async -> Order? {
        await settled()
        return engine.order(accountID: accountID, orderID: orderID)
    }

    public func order(accountID: String, clientOrderID: String) async -> Order? {
        await settled()
        return engine.order(accountID: accountID, clientOrderID: clientOrderID)
    }

    public func openOrders(accountID: String) async -> [Order] {
        await settled()
        return engine.openOrders(accountID: accountID)
    }

    public func balances(accountID: String) async -> [Balance] {
        await settled()
        return engine.balances(accountID: accountID)
    }

    public func positions(accountID: String) async -> [Position] {
        await settled()
        return engine.positions(accountID: accountID)
    }

    /// Runs `body` with the published view of the book (the configured depth) inside the venue's
    /// serial order, so a subscriber registered in `body` receives every delta after the snapshot
    /// and none before it.
    public func withBookSnapshot(instrument: String, _ body: (BookSnapshot) -> Void) async -> Bool {
        await settled()
        guard let snapshot = engine.snapshot(instrument: instrument, depth: depthViews.depth) else { return false }
        body(snapshot)
        return true
    }

    public func bestBidAsk(instrument: String) async -> (bid: FixedDecimal?, ask: FixedDecimal?) {
        await settled()
        return engine.bestBidAsk(instrument: instrument)
    }

    public func ticker(instrument: String, nowMs: Int64) async -> Ticker? {
        await settled()
        guard engine.instrument(instrument) != nil else { return nil }
        return tickers.ticker(for: instrument, engine: engine, nowMs: nowMs)
    }

    /// Runs `body` with the current ticker inside the venue's serial order (subscribe, then updates).
    /// Its timestamp is the last operation's time. False for an unknown instrument.
    public func withTicker(instrument: String, _ body: (Ticker) -> Void) async -> Bool {
        await settled()
        guard engine.instrument(instrument) != nil else { return false }
        body(tickers.ticker(for: instrument, engine: engine, nowMs: lastOperationMs))
        return true
    }

    /// Runs `body` with every book (the published depth) and every ticker, in the venue's serial
    /// order: the state a new event-stream subscriber starts from (`bulwark venue`).
    public func withMarketState(_ body: ([BookSnapshot], [Ticker]) -> Void) async {
        await settled()
        let symbols = engine.listInstruments.map(\.symbol)
        body(
            symbols.compactMap { engine.snapshot(instrument: $0, depth: depthViews.depth) },
            symbols.map { tickers.ticker(for: $0, engine: engine, nowMs: lastOperationMs) })
    }

    // MARK: Applying, journaling, publishing

    /// Applies a command, journals it if it changed anything, then publishes its events; answers
    /// once its entry is durable (group commit, above). A command that changed nothing is answered
    /// once everything applied before it is published, like a query.
    private func execute(_ command: VenueCommand, nowMs: Int64) async -> Result<Applied, OrderRejection> {
        await admitWrite()
        guard case .running = phase else { return .failure(OrderRejection(.internalError, reason: "venue_stopped")) }
        let result = run(command, nowMs: nowMs)
        guard case .success(let applied) = result, applied.changed else {
            await settled()
            return result
        }
        lastOperationMs = max(lastOperationMs, nowMs)
        let publication = prepare(applied.events, nowMs: nowMs)
        guard let journal else {
            deliver(publication)
            return result
        }
        let entry = JournalEntry(atMs: nowMs, command: command.encoded, outcome: JournalOutcome.describe(applied.events))
        let durable = await withCheckedContinuation { (waiter: CheckedContinuation<Bool, Never>) in
            commits.enqueue(GroupCommitQueue.Pending(entry: entry, publication: publication, waiter: waiter))
            if commits.startCommitting() {
                Task { await self.commitLoop(journal) }
            }
        }
        return durable ? result : .failure(OrderRejection(.internalError, reason: "venue_stopped"))
    }

    /// Appends and syncs everything enqueued, batch after batch, until nothing is left; publishes
    /// and answers each batch in order once durable. A failed append stops the venue: that batch
    /// and every operation applied after it are refused and never published (memory is now ahead
    /// of the journal, and no further operation may build on it).
    private func commitLoop(_ journal: any VenueJournal) async {
        // Operations already waiting for the actor are applied before each batch is taken, so they
        // share its sync: a sync is fast next to its CPU cost (a VM exit per flush), so batches
        // would otherwise stay small.
        await Task.yield()
        while let batch = commits.takeBatch() {
            if let failure = await Self.appendDurably(batch.map(\.entry), to: journal, on: journalQueue) {
                phase = .stopped(reason: "journal append failed: \(failure)")
                for pending in batch + commits.abandonUncommitted() { pending.waiter.resume(returning: false) }
                commits.finished(batch.count)
                break
            }
            for pending in batch {
                deliver(pending.publication)
                pending.waiter.resume(returning: true)
            }
            commits.finished(batch.count)
            await Task.yield()
        }
        commits.stopCommitting()
        commits.resumeIfSettled()
    }

    /// Runs the append on `queue` (it blocks for the sync); nil once durable, else the error's text.
    private nonisolated static func appendDurably(_ entries: [JournalEntry], to journal: any VenueJournal, on queue: DispatchQueue) async -> String? {
        await withCheckedContinuation { (done: CheckedContinuation<String?, Never>) in
            queue.async {
                do {
                    try journal.append(contentsOf: entries)
                    done.resume(returning: nil)
                } catch {
                    done.resume(returning: String(describing: error))
                }
            }
        }
    }

    /// Operations applied and not yet published (tests).
    var unpublishedCount: Int { commits.unpublishedCount }

    /// Returns once every applied operation is published (at once when none is pending).
    private func settled() async {
        while !commits.isSettled {
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in commits.waitForSettled(waiter) }
        }
    }

    /// Holds a new operation back while a reader waits for the published state, so that a steady
    /// stream of operations cannot keep it waiting.
    private func admitWrite() async {
        while commits.hasReadersWaiting {
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in commits.holdWriter(waiter) }
        }
    }

    /// The engine call behind each command (shared by live operations and replay).
    private func run(_ command: VenueCommand, nowMs: Int64) -> Result<Applied, OrderRejection> {
        switch command {
        case .place(let request):
            return engine.place(request, nowMs: nowMs).map { outcome in
                Applied(order: outcome.order, duplicate: outcome.duplicate, events: outcome.events, changed: !outcome.duplicate)
            }
        case .cancel(let account, let orderID):
            return engine.cancel(accountID: account, orderID: orderID, nowMs: nowMs).map { Applied(order: $0.order, events: $0.events) }
        case .amend(let account, let orderID, let price, let qty, let maxNotional):
            return engine.amend(accountID: account, orderID: orderID, newPrice: price, newQty: qty, nowMs: nowMs, maxNotional: maxNotional)
                .map { Applied(order: $0.order, events: $0.events, changed: !$0.events.isEmpty) }
        case .cancelAll(let account, let instrument, let reason):
            let (orders, events) = engine.cancelAll(accountID: account, instrument: instrument, reason: reason, nowMs: nowMs)
            return .success(Applied(orders: orders, events: events, changed: !orders.isEmpty))
        case .deposit(let deposit):
            guard creditedDeposits.insert(deposit.id).inserted else { return .success(Applied(changed: false)) }
            return .success(Applied(events: engine.deposit(accountID: deposit.accountID, asset: deposit.asset, amount: deposit.amount)))
        case .setStatus(let symbol, let status):
            let known = engine.instrument(symbol) != nil && engine.instrument(symbol)?.status != status
            return .success(Applied(changed: known && engine.setStatus(status, of: symbol)))
        }
    }

    /// What one operation publishes, computed when it is applied: the depth-limited view and the
    /// tickers are of the engine at that moment, even when the events go out later (group commit).
    private func prepare(_ list: [EngineEvent], nowMs: Int64) -> GroupCommitQueue.Publication {
        guard !list.isEmpty else { return GroupCommitQueue.Publication(events: [], tickers: []) }
        var changed: [String] = []
        for event in list {
            switch event {
            case .trade(let trade):
                tickers.record(trade)
                if !changed.contains(trade.instrument) { changed.append(trade.instrument) }
            case .bookDelta(let instrument, _, _):
                if !changed.contains(instrument) { changed.append(instrument) }
            default:
                break
            }
        }
        return GroupCommitQueue.Publication(
            events: depthViews.filter(list, engine: engine), tickers: changed.map { tickers.ticker(for: $0, engine: engine, nowMs: nowMs) })
    }

    private func deliver(_ publication: GroupCommitQueue.Publication) {
        guard !publication.events.isEmpty, let events else { return }
        events.venueEvents(publication.events)
        if !publication.tickers.isEmpty { events.venueTickers(publication.tickers) }
    }
}
