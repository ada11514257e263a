import BulwarkCore

/// The built-in venue's matching engine: price-time priority limit order books, pre-trade checks,
/// holds, settlement and positions.
///
/// Pure, synchronous and deterministic: no I/O, no clock (time comes in as `nowMs`), no
/// randomness (order and trade ids come from counters). **Not thread-safe**: it is a value type
/// with mutating methods; `BuiltinVenue` (an actor) owns one and serializes every call.
///
/// First-version rules (see docs/venue.md):
/// - matching is price-time priority at the resting order's price;
/// - self-trade prevention cancels the RESTING order (`self_trade_prevention`) and matching goes on;
/// - fees are charged in the instrument's quote asset and credited to `feeAccountID`, so every
///   asset's total over all accounts changes only through deposits;
/// - spot and option buyers hold `qty × price` plus the higher of the two fee rates; spot sellers
///   hold the base quantity (their fees come out of the proceeds); option sellers hold nothing
///   (fees come out of the premium); perpetual orders hold their worst-case fee only. There is
///   NO margin model: perpetual positions and short options are not margined yet.
///
/// The file is split by concern: this one holds the state and the queries; `+Place`, `+Matching`
/// and `+Cancel` the operations.
public struct MatchingEngine: Sendable {
    /// Receives every fee.
    public static let feeAccountID = "a_fees"

    /// What an open order has set aside, and in which asset.
    struct Hold: Sendable {
        let asset: String
        var amount: FixedDecimal
    }

    var instruments: [String: Instrument]
    let instrumentOrder: [String]
    var books: [String: OrderBook] = [:]
    /// Centre of the price collar: the last trade price, or the listing price before any trade.
    var referencePrices: [String: FixedDecimal] = [:]
    var ledger = Ledger()
    /// Every order ever accepted (finished ones too: status queries and idempotency).
    var orders: [String: Order] = [:]
    /// Per open order with something held.
    var holds: [String: Hold] = [:]
    /// Account → ids of its resting orders.
    var openOrderIDs: [String: Set<String>] = [:]
    /// Account → client order id → order id.
    var clientOrderIndex: [String: [String: String]] = [:]
    var nextOrderNumber: UInt64 = 1
    var nextTradeNumber: UInt64 = 1
    /// Per-account pre-trade limits (configuration, not listing data; see `AccountLimits`).
    public var accountLimits = AccountLimits()

    /// Instruments are listed in the given order; a repeated symbol keeps the first definition.
    /// A listing with a non-positive tick or lot, or a fee rate outside [0, 1), is a programming
    /// error (fees come out of proceeds and premiums, so they must be smaller than them).
    public init(instruments: [Instrument]) {
        var table: [String: Instrument] = [:]
        var order: [String] = []
        for instrument in instruments where table[instrument.symbol] == nil {
            precondition(instrument.tickSize.isPositive && instrument.lotSize.isPositive, "\(instrument.symbol): tick and lot must be positive")
            precondition(
                [instrument.makerFeeRate, instrument.takerFeeRate].allSatisfy { !$0.isNegative && $0 < FixedDecimal(integer: 1) },
                "\(instrument.symbol): fee rates must be in [0, 1)")
            table[instrument.symbol] = instrument
            order.append(instrument.symbol)
            books[instrument.symbol] = OrderBook()
            referencePrices[instrument.symbol] = instrument.initialReferencePrice
        }
        self.instruments = table
        instrumentOrder = order
    }

    // MARK: Queries

    /// Orders resting now, over all accounts.
    public var openOrderCount: Int { openOrderIDs.values.reduce(0) { $0 + $1.count } }

    /// Orders ever accepted (finished ones included).
    public var orderCount: Int { orders.count }

    public var listInstruments: [Instrument] { instrumentOrder.compactMap { instruments[$0] } }

    public func instrument(_ symbol: String) -> Instrument? { instruments[symbol] }

    /// The collar's centre: the last trade price, or the listing's initial reference.
    public func referencePrice(_ symbol: String) -> FixedDecimal? { referencePrices[symbol] }

    /// Another account's order is reported as absent (never leak its existence).
    public func order(accountID: String, orderID: String) -> Order? {
        guard let order = orders[orderID], order.accountID == accountID else { return nil }
        return order
    }

    public func order(accountID: String, clientOrderID: String) -> Order? {
        clientOrderIndex[accountID]?[clientOrderID].flatMap { orders[$0] }
    }

    /// The account's resting orders, oldest first.
    public func openOrders(accountID: String) -> [Order] {
        (openOrderIDs[accountID] ?? []).compactMap { orders[$0] }.sorted { $0.number < $1.number }
    }

    /// Every asset the account ever held, sorted by asset name.
    public func balances(accountID: String) -> [Balance] { ledger.balances(accountID) }

    /// Every derivatives position the account ever had (a closed one shows 0), sorted by instrument.
    public func positions(accountID: String) -> [Position] { ledger.positions(accountID) }

    /// Sum of an asset's totals over all accounts, the fee account included.
    public func totalBalance(of asset: String) -> FixedDecimal { ledger.sum(of: asset) }

    /// Aggregated levels best first (all of them when `depth` is nil) and the book's `seq`.
    public func snapshot(instrument: String, depth: Int? = nil) -> BookSnapshot? {
        guard let book = books[instrument] else { return nil }
        return BookSnapshot(instrument: instrument, seq: book.seq, bids: book.bids.snapshot(depth: depth), asks: book.asks.snapshot(depth: depth))
    }

    public func bestBidAsk(instrument: String) -> (bid: FixedDecimal?, ask: FixedDecimal?) {
        (books[instrument]?.bids.best?.price, books[instrument]?.asks.best?.price)
    }

    // MARK: Administration

    /// Credits an account (seeding, deposits). Non-positive amounts are ignored (no events).
    public mutating func deposit(accountID: String, asset: String, amount: FixedDecimal) -> [EngineEvent] {
        guard amount.isPositive else { return [] }
        ledger.credit(accountID, asset, amount)
        return ledger.drainEvents()
    }

    /// Halts or resumes an instrument. A halted instrument refuses new orders and amends
    /// (`trading_halted`); cancels still work and resting orders stay. False for an unknown symbol.
    @discardableResult
    public mutating func setStatus(_ status: Instrument.Status, of symbol: String) -> Bool {
        guard instruments[symbol] != nil else { return false }
        instruments[symbol]!.status = status
        return true
    }

    // MARK: Shared helpers

    mutating func makeOrderID() -> (String, UInt64) {
        let number = nextOrderNumber
        nextOrderNumber += 1
        return ("o_\(number)", number)
    }

    /// Sets an order's hold to `amount` (zero drops it), holding or releasing the difference.
    mutating func setHold(of order: Order, asset: String, to amount: FixedDecimal) {
        let current = holds[order.orderID]?.amount ?? .zero
        ledger.changeHold(order.accountID, asset, by: amount - current)
        if amount.isZero {
            holds.removeValue(forKey: order.orderID)
        } else {
            holds[order.orderID] = Hold(asset: asset, amount: amount)
        }
    }

    /// Releases whatever the order still holds.
    mutating func releaseHold(of order: Order) {
        guard let hold = holds[order.orderID] else { return }
        setHold(of: order, asset: hold.asset, to: .zero)
    }

    // MARK: Self-check (tests)

    /// Every internal invariant that must hold between operations; returns the violations found
    /// (empty when consistent). O(everything): for tests, not for production paths.
    func auditInvariants() -> [String] {
        var problems: [String] = []
        var resting = Set<String>()
        for (symbol, book) in books {
            for side in [OrderSide.buy, .sell] {
                var previous: FixedDecimal?
                for level in book[side].levelsBestFirst {
                    if let previous, !book[side].isBetter(previous, than: level.price) {
                        problems.append("\(symbol) \(side) levels out of order at \(level.price)")
                    }
                    previous = level.price
                    var sum = FixedDecimal.zero
                    for id in level.orderIDs {
                        guard let order = orders[id] else {
                            problems.append("\(symbol) unknown order \(id) on book")
                            continue
                        }
                        resting.insert(id)
                        sum += order.remainingQty
                        if order.status.isFinal || order.side != side || order.price != level.price || !order.remainingQty.isPositive {
                            problems.append("\(symbol) order \(id) misplaced on book (\(order.status), \(String(describing: order.price)))")
                        }
                        if openOrderIDs[order.accountID]?.contains(id) != true {
                            problems.append("\(id) rests but is not in its account's open orders")
                        }
                    }
                    if sum != level.total || level.total.isZero || level.isEmpty {
                        problems.append("\(symbol) \(side) level \(level.price) total \(level.total) != \(sum)")
                    }
                }
            }
            if let bid = book.bids.best?.price, let ask = book.asks.best?.price, bid >= ask {
                problems.append("\(symbol) crossed: \(bid) >= \(ask)")
            }
        }
        let open = openOrderIDs.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        if open != resting { problems.append("open orders \(open.count) != resting \(resting.count)") }
        var heldByOrders: [String: [String: FixedDecimal]] = [:]
        for (id, hold) in holds {
            guard let order = orders[id], resting.contains(id) else {
                problems.append("hold for non-resting order \(id)")
                continue
            }
            heldByOrders[order.accountID, default: [:]][hold.asset, default: .zero] += hold.amount
        }
        for (account, assets) in ledger.entries {
            for (asset, entry) in assets {
                if entry.held != heldByOrders[account]?[asset] ?? .zero {
                    problems.append("\(account) \(asset) held \(entry.held) != holds \(heldByOrders[account]?[asset] ?? .zero)")
                }
                if entry.available.isNegative || entry.held.isNegative {
                    problems.append("\(account) \(asset) negative: total \(entry.total) held \(entry.held)")
                }
            }
        }
        return problems
    }
}
