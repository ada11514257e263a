import BulwarkCore

/// Pre-trade limits per account that come from the operator's configuration rather than from the
/// instrument listing (MiFID II RTS 6 Art. 15 style: they stop a runaway algorithm before the book).
///
/// Limits that would refuse more are checked only for new orders and amends that increase
/// exposure: an account above a lowered limit can still cancel, and reduce.
public struct AccountLimits: Sendable, Equatable {
    /// Most resting orders one account may have (nil: no limit). Orders that cannot rest (ioc,
    /// fok, market) do not count and are not refused by it.
    public var maxOpenOrders: Int?
    /// Largest total notional (price × remaining quantity, quote units, all instruments) of one
    /// account's resting orders including the new one (nil: no limit).
    public var maxOpenNotional: FixedDecimal?

    public init(maxOpenOrders: Int? = nil, maxOpenNotional: FixedDecimal? = nil) {
        self.maxOpenOrders = maxOpenOrders
        self.maxOpenNotional = maxOpenNotional
    }

    /// No limit at all (journal replay: what was accepted once is applied again whatever the
    /// configuration says today).
    public static let none = AccountLimits()
}

extension MatchingEngine {
    /// The account-level and position controls of a new order of `qty` at `price` (its limit, or
    /// its worst price for a market order); `amending` is the order being amended, whose current
    /// exposure is replaced rather than added to.
    ///
    /// The open-order count is O(1); the notional and position limits walk the account's resting
    /// orders (lazily, unsorted) only when they are configured or apply. Nothing here may sort or
    /// copy the account's orders: an account with thousands resting would pay that on every order.
    func checkAccountLimits(
        accountID: String, instrument: Instrument, side: OrderSide, qty: FixedDecimal, price: FixedDecimal, rests: Bool,
        amending: Order? = nil
    ) -> OrderRejection? {
        let openIDs = openOrderIDs[accountID] ?? []
        if rests, amending == nil, let max = accountLimits.maxOpenOrders, openIDs.count >= max {
            return OrderRejection(.riskLimit, field: "params", reason: "max_open_orders")
        }
        let amendingID = amending?.orderID
        let open = openIDs.lazy.filter { $0 != amendingID }.compactMap { orders[$0] }
        if rests, let cap = accountLimits.maxOpenNotional {
            var total = qty.multiplied(by: price) ?? FixedDecimal(units: .max / 2)
            for order in open { total += order.remainingQty.multiplied(by: order.price ?? .zero) ?? .zero }
            if total > cap { return OrderRejection(.riskLimit, field: "params.qty", reason: "max_open_notional") }
        }
        if let max = instrument.maxPosition, instrument.kind != .spot {
            // Worst case: every open order on this side fills, and this one too.
            let position = ledger.positions[accountID]?[instrument.symbol] ?? .zero
            var exposure = qty
            for order in open where order.instrument == instrument.symbol && order.side == side { exposure += order.remainingQty }
            let projected = side == .buy ? position + exposure : position - exposure
            if projected.magnitude > max { return OrderRejection(.riskLimit, field: "params.qty", reason: "position_limit") }
        }
        return nil
    }
}
