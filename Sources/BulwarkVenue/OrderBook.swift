import BulwarkCore

/// One price level: a FIFO of resting order ids (time priority) and their total remaining quantity.
struct BookLevel {
    let price: FixedDecimal
    private(set) var total: FixedDecimal
    /// Live ids are `ids[head...]`; consumed ids before `head` are dropped lazily, so taking the
    /// front order (the common case, matching) is O(1) amortized.
    private var ids: [String]
    private var head = 0

    init(price: FixedDecimal, orderID: String, qty: FixedDecimal) {
        self.price = price
        total = qty
        ids = [orderID]
    }

    var isEmpty: Bool { head == ids.count }
    var front: String? { isEmpty ? nil : ids[head] }
    var orderIDs: ArraySlice<String> { ids[head...] }

    mutating func append(_ orderID: String, qty: FixedDecimal) {
        ids.append(orderID)
        total += qty
    }

    mutating func reduceTotal(by qty: FixedDecimal) { total -= qty }

    /// Removes an order: O(1) for the front, O(orders at this level) from the middle.
    mutating func remove(_ orderID: String) {
        if ids[head] == orderID {
            head += 1
            if head == ids.count {
                ids.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 32 && head * 2 >= ids.count {
                ids.removeFirst(head)
                head = 0
            }
        } else if let position = ids[head...].firstIndex(of: orderID) {
            ids.remove(at: position)
        }
    }
}

/// One side of a book. Levels live in a sorted array, worst first and best LAST, so the churn at
/// the top of the book (new best level, best level consumed) is an append or a removeLast; other
/// levels are found by binary search and inserted or removed in O(levels).
struct BookSide {
    let side: OrderSide
    private(set) var levels: [BookLevel] = []

    init(side: OrderSide) { self.side = side }

    /// Bids: higher is better; asks: lower is better.
    func isBetter(_ a: FixedDecimal, than b: FixedDecimal) -> Bool { side == .buy ? a > b : a < b }

    /// Index of the level at `price`, or where it would be inserted.
    private func search(_ price: FixedDecimal) -> (index: Int, found: Bool) {
        var low = 0
        var high = levels.count
        while low < high {
            let mid = (low + high) / 2
            let levelPrice = levels[mid].price
            if levelPrice == price { return (mid, true) }
            if isBetter(price, than: levelPrice) { low = mid + 1 } else { high = mid }
        }
        return (low, false)
    }

    var best: BookLevel? { levels.last }

    /// The best level's price and its first order (read in place: holding a copy of the level
    /// while the book is mutated would copy its queue).
    var bestFront: (price: FixedDecimal, orderID: String)? {
        guard let index = levels.indices.last, let id = levels[index].front else { return nil }
        return (levels[index].price, id)
    }
    var isEmpty: Bool { levels.isEmpty }

    /// Levels best first.
    var levelsBestFirst: ReversedCollection<[BookLevel]> { levels.reversed() }

    /// Appends an order at the back of its level's queue; returns the level's new total.
    @discardableResult
    mutating func add(orderID: String, price: FixedDecimal, qty: FixedDecimal) -> FixedDecimal {
        let (index, found) = search(price)
        if found {
            levels[index].append(orderID, qty: qty)
            return levels[index].total
        }
        levels.insert(BookLevel(price: price, orderID: orderID, qty: qty), at: index)
        return qty
    }

    /// Takes `qty` off the level at `price`; with `removeOrder` the order also leaves the queue.
    /// Returns the level's new total (zero when the level is gone).
    @discardableResult
    mutating func reduce(orderID: String, price: FixedDecimal, by qty: FixedDecimal, removeOrder: Bool) -> FixedDecimal {
        let (index, found) = search(price)
        precondition(found, "book level \(price) missing")
        levels[index].reduceTotal(by: qty)
        if removeOrder { levels[index].remove(orderID) }
        if levels[index].isEmpty {
            levels.remove(at: index)
            return .zero
        }
        return levels[index].total
    }

    func snapshot(depth: Int?) -> [(price: FixedDecimal, qty: FixedDecimal)] {
        let best = levelsBestFirst
        let slice = depth.map { Array(best.prefix(max(0, $0))) } ?? Array(best)
        return slice.map { (price: $0.price, qty: $0.total) }
    }
}

/// Whether a taker with limit `limit` may trade with a resting level at `levelPrice`.
func crosses(takerSide: OrderSide, limit: FixedDecimal, levelPrice: FixedDecimal) -> Bool {
    takerSide == .buy ? levelPrice <= limit : levelPrice >= limit
}

/// A price-time priority limit order book for one instrument.
struct OrderBook {
    var bids = BookSide(side: .buy)
    var asks = BookSide(side: .sell)
    /// Incremented once per operation that changed this book (the `bookDelta` seq).
    var seq: UInt64 = 0

    subscript(side: OrderSide) -> BookSide {
        get { side == .buy ? bids : asks }
        _modify {
            if side == .buy { yield &bids } else { yield &asks }
        }
    }
}
