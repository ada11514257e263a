import BulwarkCore

/// One side's price levels of a limit order book, best first, each a FIFO of order ids.
///
/// Levels live in a sorted array found by binary search: inserting or removing a level is
/// O(levels), fine for the depth of a real book; orders within a level keep arrival order (time
/// priority). Removing an order from the middle of a level is O(orders at that level).
struct BookSide {
    struct Level {
        let price: FixedDecimal
        var orderIDs: [String]
        var total: FixedDecimal
    }

    let side: OrderSide
    private(set) var levels: [Level] = []

    init(side: OrderSide) { self.side = side }

    /// Bids: highest first; asks: lowest first.
    private func isBetter(_ a: FixedDecimal, than b: FixedDecimal) -> Bool { side == .buy ? a > b : a < b }

    /// Index of the level at `price`, or where it would be inserted.
    private func search(_ price: FixedDecimal) -> (index: Int, found: Bool) {
        var low = 0
        var high = levels.count
        while low < high {
            let mid = (low + high) / 2
            if levels[mid].price == price { return (mid, true) }
            if isBetter(levels[mid].price, than: price) { low = mid + 1 } else { high = mid }
        }
        return (low, false)
    }

    var best: Level? { levels.first }

    func total(at price: FixedDecimal) -> FixedDecimal {
        let (index, found) = search(price)
        return found ? levels[index].total : .zero
    }

    /// Appends an order at the back of its level's queue; returns the level's new total.
    mutating func add(orderID: String, price: FixedDecimal, qty: FixedDecimal) -> FixedDecimal {
        let (index, found) = search(price)
        if found {
            levels[index].orderIDs.append(orderID)
            levels[index].total += qty
            return levels[index].total
        }
        levels.insert(Level(price: price, orderIDs: [orderID], total: qty), at: index)
        return qty
    }

    /// Removes `qty` of an order at `price` (the whole order when `removeOrder`); returns the new level total.
    mutating func reduce(orderID: String, price: FixedDecimal, by qty: FixedDecimal, removeOrder: Bool) -> FixedDecimal {
        let (index, found) = search(price)
        guard found else { return .zero }
        levels[index].total -= qty
        if removeOrder, let position = levels[index].orderIDs.firstIndex(of: orderID) {
            levels[index].orderIDs.remove(at: position)
        }
        if levels[index].orderIDs.isEmpty {
            levels.remove(at: index)
            return .zero
        }
        return levels[index].total
    }

    /// Whether a taker limit of `price` (nil: market) may trade with a resting level at `levelPrice`.
    static func crosses(takerSide: OrderSide, limit: FixedDecimal, levelPrice: FixedDecimal) -> Bool {
        takerSide == .buy ? levelPrice <= limit : levelPrice >= limit
    }

    func snapshot(depth: Int?) -> [(price: FixedDecimal, qty: FixedDecimal)] {
        let slice = depth.map { levels.prefix($0) } ?? levels[...]
        return slice.map { ($0.price, $0.total) }
    }
}

struct OrderBook {
    var bids = BookSide(side: .buy)
    var asks = BookSide(side: .sell)
    var seq: UInt64 = 0

    subscript(side: OrderSide) -> BookSide {
        get { side == .buy ? bids : asks }
        set { if side == .buy { bids = newValue } else { asks = newValue } }
    }
}
