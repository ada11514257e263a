import BulwarkCore

/// One state-changing operation of the venue, as the journal records it.
///
/// The engine is deterministic (no clock, no randomness, ids from counters), so the commands it
/// accepted, applied again in the same order with the same `nowMs`, rebuild exactly the same
/// books, orders, balances and positions. The journal therefore stores commands (with what they
/// produced, for verification) rather than snapshots of the state.
public enum VenueCommand: Sendable, Equatable {
    case place(OrderRequest)
    /// By order id: a cancel by client order id is resolved before it is journaled.
    case cancel(accountID: String, orderID: String)
    case amend(accountID: String, orderID: String, price: FixedDecimal?, qty: FixedDecimal?, maxNotional: FixedDecimal?)
    case cancelAll(accountID: String, instrument: String?, reason: CancelReason)
    case deposit(VenueDeposit)
    case setStatus(symbol: String, status: Instrument.Status)
}

extension VenueDeposit: Equatable {
    public static func == (lhs: VenueDeposit, rhs: VenueDeposit) -> Bool {
        lhs.id == rhs.id && lhs.accountID == rhs.accountID && lhs.asset == rhs.asset && lhs.amount == rhs.amount
    }
}

// MARK: Encoding

/// The journal's text form of commands: one small JSON object each, decimals as strings (exact).
/// A format change needs a new `"v"`; readers refuse versions they do not know.
extension VenueCommand {
    static let formatVersion: Int64 = 1

    public var encoded: String {
        var w = JSONWriter(reserveCapacity: 192)
        w.beginObject()
        w.key("v")
        w.int(Self.formatVersion)
        switch self {
        case .place(let r):
            Self.field(&w, "op", "place")
            Self.field(&w, "account", r.accountID)
            Self.field(&w, "key", r.keyID)
            Self.field(&w, "instrument", r.instrument)
            Self.field(&w, "side", r.side.rawValue)
            Self.field(&w, "type", r.type.rawValue)
            Self.field(&w, "qty", r.qty.description)
            Self.field(&w, "price", r.price?.description)
            Self.field(&w, "tif", r.timeInForce.rawValue)
            Self.field(&w, "client_order_id", r.clientOrderID)
            if let deadline = r.deadlineMs {
                w.key("deadline_ms")
                w.int(deadline)
            }
            Self.field(&w, "max_notional", r.maxNotional?.description)
        case .cancel(let account, let orderID):
            Self.field(&w, "op", "cancel")
            Self.field(&w, "account", account)
            Self.field(&w, "order_id", orderID)
        case .amend(let account, let orderID, let price, let qty, let maxNotional):
            Self.field(&w, "op", "amend")
            Self.field(&w, "account", account)
            Self.field(&w, "order_id", orderID)
            Self.field(&w, "price", price?.description)
            Self.field(&w, "qty", qty?.description)
            Self.field(&w, "max_notional", maxNotional?.description)
        case .cancelAll(let account, let instrument, let reason):
            Self.field(&w, "op", "cancel_all")
            Self.field(&w, "account", account)
            Self.field(&w, "instrument", instrument)
            Self.field(&w, "reason", reason.rawValue)
        case .deposit(let deposit):
            Self.field(&w, "op", "deposit")
            w.key("id")
            w.int(deposit.id)
            Self.field(&w, "account", deposit.accountID)
            Self.field(&w, "asset", deposit.asset)
            Self.field(&w, "amount", deposit.amount.description)
        case .setStatus(let symbol, let status):
            Self.field(&w, "op", "set_status")
            Self.field(&w, "instrument", symbol)
            Self.field(&w, "status", status.rawValue)
        }
        w.endObject()
        return w.string
    }

    private static func field(_ w: inout JSONWriter, _ key: String, _ value: String?) {
        guard let value else { return }
        w.key(key)
        w.string(value)
    }

    /// Parses `encoded`; nil for anything malformed or of an unknown version.
    public init?(encoded text: String) {
        guard case .object(let o)? = try? StrictJSONParser().parse(Array(text.utf8)), o["v"]?.int64Value == Self.formatVersion,
            let op = o["op"]?.stringValue
        else { return nil }
        func string(_ key: String) -> String? { o[key]?.stringValue }
        func decimal(_ key: String) -> FixedDecimal?? {
            guard let text = string(key) else { return .some(nil) }
            return FixedDecimal(parsingSigned: text).map { .some($0) }
        }
        guard let account = string("account") ?? (op == "set_status" ? "" : nil) else { return nil }
        switch op {
        case "place":
            guard let instrument = string("instrument"), let side = string("side").flatMap(OrderSide.init(rawValue:)),
                let type = string("type").flatMap(OrderType.init(rawValue:)), let qty = decimal("qty") ?? nil,
                let price = decimal("price"), let tif = string("tif").flatMap(TimeInForce.init(rawValue:)),
                let clientOrderID = string("client_order_id"), let maxNotional = decimal("max_notional")
            else { return nil }
            self = .place(
                OrderRequest(
                    accountID: account, keyID: string("key"), instrument: instrument, side: side, type: type, qty: qty, price: price,
                    timeInForce: tif, clientOrderID: clientOrderID, deadlineMs: o["deadline_ms"]?.int64Value, maxNotional: maxNotional))
        case "cancel":
            guard let orderID = string("order_id") else { return nil }
            self = .cancel(accountID: account, orderID: orderID)
        case "amend":
            guard let orderID = string("order_id"), let price = decimal("price"), let qty = decimal("qty"),
                let maxNotional = decimal("max_notional")
            else { return nil }
            self = .amend(accountID: account, orderID: orderID, price: price, qty: qty, maxNotional: maxNotional)
        case "cancel_all":
            guard let reason = string("reason").flatMap(CancelReason.init(rawValue:)) else { return nil }
            self = .cancelAll(accountID: account, instrument: string("instrument"), reason: reason)
        case "deposit":
            guard let id = o["id"]?.int64Value, let asset = string("asset"), let amount = decimal("amount") ?? nil else { return nil }
            self = .deposit(VenueDeposit(id: id, accountID: account, asset: asset, amount: amount))
        case "set_status":
            guard let symbol = string("instrument"), let status = string("status").flatMap(Instrument.Status.init(rawValue:)) else {
                return nil
            }
            self = .setStatus(symbol: symbol, status: status)
        default:
            return nil
        }
    }
}
