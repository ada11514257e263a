import BulwarkCore
import BulwarkVenue

// The mapping between the venue's domain values and their protobuf messages (Protos/venue.proto).
// Encoding never fails; decoding returns nil (or throws `WireError`) for anything malformed, so a
// bad message from the other side is refused rather than guessed at.

/// A message from the other side that does not decode.
struct WireError: Error, CustomStringConvertible {
    let description: String
    init(_ what: String) { description = "malformed venue message: \(what)" }
}


enum Wire {
    // MARK: Scalars

    static func decimal(_ text: String, _ what: String) throws -> FixedDecimal {
        guard let value = FixedDecimal(parsingSigned: text) else { throw WireError(what) }
        return value
    }

    static func enumValue<E: RawRepresentable>(_ text: String, _ type: E.Type, _ what: String) throws -> E where E.RawValue == String {
        guard let value = E(rawValue: text) else { throw WireError(what) }
        return value
    }

    // MARK: Orders

    static func message(_ r: OrderRequest) -> Bulwark_Venue_V1_OrderRequestMsg {
        var m = Bulwark_Venue_V1_OrderRequestMsg()
        m.accountID = r.accountID
        if let key = r.keyID { m.keyID = key }
        m.instrument = r.instrument
        m.side = r.side.rawValue
        m.type = r.type.rawValue
        m.qty = r.qty.description
        if let price = r.price { m.price = price.description }
        m.tif = r.timeInForce.rawValue
        m.clientOrderID = r.clientOrderID
        if let deadline = r.deadlineMs { m.deadlineMs = deadline }
        if let cap = r.maxNotional { m.maxNotional = cap.description }
        return m
    }

    static func request(_ m: Bulwark_Venue_V1_OrderRequestMsg) throws -> OrderRequest {
        OrderRequest(
            accountID: m.accountID, keyID: m.hasKeyID ? m.keyID : nil, instrument: m.instrument,
            side: try enumValue(m.side, OrderSide.self, "side"), type: try enumValue(m.type, OrderType.self, "type"),
            qty: try decimal(m.qty, "qty"), price: m.hasPrice ? try decimal(m.price, "price") : nil,
            timeInForce: try enumValue(m.tif, TimeInForce.self, "tif"), clientOrderID: m.clientOrderID,
            deadlineMs: m.hasDeadlineMs ? m.deadlineMs : nil, maxNotional: m.hasMaxNotional ? try decimal(m.maxNotional, "max_notional") : nil)
    }

    static func message(_ o: Order) -> Bulwark_Venue_V1_OrderMsg {
        var m = Bulwark_Venue_V1_OrderMsg()
        m.orderID = o.orderID
        m.clientOrderID = o.clientOrderID
        m.accountID = o.accountID
        if let key = o.keyID { m.keyID = key }
        m.instrument = o.instrument
        m.side = o.side.rawValue
        m.type = o.type.rawValue
        m.tif = o.timeInForce.rawValue
        if let price = o.price { m.price = price.description }
        m.qty = o.qty.description
        m.filledQty = o.filledQty.description
        m.filledNotional = o.filledNotional.description
        m.status = o.status.rawValue
        if let reason = o.cancelReason { m.cancelReason = reason.rawValue }
        m.createdMs = o.createdMs
        m.updatedMs = o.updatedMs
        return m
    }

    static func order(_ m: Bulwark_Venue_V1_OrderMsg) throws -> Order {
        Order(
            orderID: m.orderID, clientOrderID: m.clientOrderID, accountID: m.accountID, keyID: m.hasKeyID ? m.keyID : nil,
            instrument: m.instrument, side: try enumValue(m.side, OrderSide.self, "side"), type: try enumValue(m.type, OrderType.self, "type"),
            timeInForce: try enumValue(m.tif, TimeInForce.self, "tif"), price: m.hasPrice ? try decimal(m.price, "price") : nil,
            qty: try decimal(m.qty, "qty"), filledQty: try decimal(m.filledQty, "filled_qty"),
            filledNotional: try decimal(m.filledNotional, "filled_notional"), status: try enumValue(m.status, OrderStatus.self, "status"),
            cancelReason: m.hasCancelReason ? try enumValue(m.cancelReason, CancelReason.self, "cancel_reason") : nil,
            createdMs: m.createdMs, updatedMs: m.updatedMs)
    }

    static func orders(_ list: [Bulwark_Venue_V1_OrderMsg]) throws -> [Order] { try list.map(order) }

    static func message(_ rejection: OrderRejection) -> Bulwark_Venue_V1_Rejection {
        var m = Bulwark_Venue_V1_Rejection()
        m.code = Int32(rejection.code.rawValue)
        m.field = rejection.field ?? ""
        m.reason = rejection.reason ?? ""
        return m
    }

    static func rejection(_ m: Bulwark_Venue_V1_Rejection) -> OrderRejection {
        // A code this gateway does not know is still a refusal; report it as the venue's fault.
        OrderRejection(
            ErrorCode(rawValue: Int(m.code)) ?? .internalError, field: m.field.isEmpty ? nil : m.field, reason: m.reason.isEmpty ? nil : m.reason)
    }

    // MARK: Trades, books, accounts

    static func message(_ t: Trade) -> Bulwark_Venue_V1_TradeMsg {
        var m = Bulwark_Venue_V1_TradeMsg()
        m.tradeID = t.tradeID
        m.instrument = t.instrument
        m.price = t.price.description
        m.qty = t.qty.description
        m.takerSide = t.takerSide.rawValue
        m.makerOrderID = t.makerOrderID
        m.takerOrderID = t.takerOrderID
        m.makerAccountID = t.makerAccountID
        m.takerAccountID = t.takerAccountID
        m.makerFee = t.makerFee.description
        m.takerFee = t.takerFee.description
        m.timestampMs = t.timestampMs
        return m
    }

    static func trade(_ m: Bulwark_Venue_V1_TradeMsg) throws -> Trade {
        Trade(
            tradeID: m.tradeID, instrument: m.instrument, price: try decimal(m.price, "price"), qty: try decimal(m.qty, "qty"),
            takerSide: try enumValue(m.takerSide, OrderSide.self, "taker_side"), makerOrderID: m.makerOrderID, takerOrderID: m.takerOrderID,
            makerAccountID: m.makerAccountID, takerAccountID: m.takerAccountID, makerFee: try decimal(m.makerFee, "maker_fee"),
            takerFee: try decimal(m.takerFee, "taker_fee"), timestampMs: m.timestampMs)
    }

    static func level(price: FixedDecimal, qty: FixedDecimal, side: OrderSide? = nil) -> Bulwark_Venue_V1_LevelMsg {
        var m = Bulwark_Venue_V1_LevelMsg()
        m.side = side?.rawValue ?? ""
        m.price = price.description
        m.qty = qty.description
        return m
    }

    static func level(_ m: Bulwark_Venue_V1_LevelMsg) throws -> (price: FixedDecimal, qty: FixedDecimal) {
        (try decimal(m.price, "level price"), try decimal(m.qty, "level qty"))
    }

    static func message(_ s: BookSnapshot) -> Bulwark_Venue_V1_BookSnapshotMsg {
        var m = Bulwark_Venue_V1_BookSnapshotMsg()
        m.instrument = s.instrument
        m.seq = s.seq
        m.bids = s.bids.map { level(price: $0.price, qty: $0.qty) }
        m.asks = s.asks.map { level(price: $0.price, qty: $0.qty) }
        return m
    }

    static func snapshot(_ m: Bulwark_Venue_V1_BookSnapshotMsg) throws -> BookSnapshot {
        BookSnapshot(instrument: m.instrument, seq: m.seq, bids: try m.bids.map(level), asks: try m.asks.map(level))
    }

    static func message(_ b: Balance) -> Bulwark_Venue_V1_BalanceMsg {
        var m = Bulwark_Venue_V1_BalanceMsg()
        m.asset = b.asset
        m.total = b.total.description
        m.available = b.available.description
        return m
    }

    static func balance(_ m: Bulwark_Venue_V1_BalanceMsg) throws -> Balance {
        Balance(asset: m.asset, total: try decimal(m.total, "total"), available: try decimal(m.available, "available"))
    }

    static func message(_ p: Position) -> Bulwark_Venue_V1_PositionMsg {
        var m = Bulwark_Venue_V1_PositionMsg()
        m.instrument = p.instrument
        m.qty = p.qty.description
        return m
    }

    static func position(_ m: Bulwark_Venue_V1_PositionMsg) throws -> Position {
        Position(instrument: m.instrument, qty: try decimal(m.qty, "position qty"))
    }

    static func message(_ t: Ticker) -> Bulwark_Venue_V1_TickerMsg {
        var m = Bulwark_Venue_V1_TickerMsg()
        m.instrument = t.instrument
        if let bid = t.bestBid { m.bestBid = level(price: bid.price, qty: bid.qty) }
        if let ask = t.bestAsk { m.bestAsk = level(price: ask.price, qty: ask.qty) }
        if let last = t.lastPrice { m.lastPrice = last.description }
        m.volume24H = t.volume24h.description
        if let reference = t.referencePrice { m.referencePrice = reference.description }
        m.timestampMs = t.timestampMs
        return m
    }

    static func ticker(_ m: Bulwark_Venue_V1_TickerMsg) throws -> Ticker {
        Ticker(
            instrument: m.instrument, bestBid: m.hasBestBid ? try level(m.bestBid) : nil, bestAsk: m.hasBestAsk ? try level(m.bestAsk) : nil,
            lastPrice: m.hasLastPrice ? try decimal(m.lastPrice, "last_price") : nil, volume24h: try decimal(m.volume24H, "volume_24h"),
            referencePrice: m.hasReferencePrice ? try decimal(m.referencePrice, "reference_price") : nil, timestampMs: m.timestampMs)
    }

    // MARK: Instruments

    static func message(_ i: Instrument) -> Bulwark_Venue_V1_InstrumentMsg {
        var m = Bulwark_Venue_V1_InstrumentMsg()
        m.symbol = i.symbol
        m.kind = i.kind.name
        if case .option(let underlying, let strike, let expiryMs, let right) = i.kind {
            m.underlying = underlying
            m.strike = strike.description
            m.expiryMs = expiryMs
            m.right = right.rawValue
        }
        m.baseAsset = i.baseAsset
        m.quoteAsset = i.quoteAsset
        m.tickSize = i.tickSize.description
        m.lotSize = i.lotSize.description
        m.minQty = i.minQty.description
        m.maxQty = i.maxQty.description
        m.maxOrderNotional = i.maxOrderNotional.description
        if let collar = i.priceCollar { m.priceCollar = collar.description }
        m.initialReferencePrice = i.initialReferencePrice.description
        m.makerFeeRate = i.makerFeeRate.description
        m.takerFeeRate = i.takerFeeRate.description
        if let max = i.maxPosition { m.maxPosition = max.description }
        m.status = i.status.rawValue
        return m
    }

    static func instrument(_ m: Bulwark_Venue_V1_InstrumentMsg) throws -> Instrument {
        let kind: InstrumentKind
        switch m.kind {
        case "spot": kind = .spot
        case "perpetual": kind = .perpetual
        case "option":
            kind = .option(
                underlying: m.underlying, strike: try decimal(m.strike, "strike"), expiryMs: m.expiryMs,
                right: try enumValue(m.right, OptionRight.self, "right"))
        default: throw WireError("instrument kind \(m.kind)")
        }
        return Instrument(
            symbol: m.symbol, kind: kind, baseAsset: m.baseAsset, quoteAsset: m.quoteAsset, tickSize: try decimal(m.tickSize, "tick_size"),
            lotSize: try decimal(m.lotSize, "lot_size"), minQty: try decimal(m.minQty, "min_qty"), maxQty: try decimal(m.maxQty, "max_qty"),
            maxOrderNotional: try decimal(m.maxOrderNotional, "max_order_notional"),
            priceCollar: m.hasPriceCollar ? try decimal(m.priceCollar, "price_collar") : nil,
            initialReferencePrice: try decimal(m.initialReferencePrice, "initial_reference_price"),
            makerFeeRate: try decimal(m.makerFeeRate, "maker_fee_rate"), takerFeeRate: try decimal(m.takerFeeRate, "taker_fee_rate"),
            maxPosition: m.hasMaxPosition ? try decimal(m.maxPosition, "max_position") : nil,
            status: try enumValue(m.status, Instrument.Status.self, "status"))
    }

    // MARK: Events

    static func message(_ event: EngineEvent) -> Bulwark_Venue_V1_EngineEventMsg {
        var m = Bulwark_Venue_V1_EngineEventMsg()
        switch event {
        case .orderUpdate(let order):
            m.orderUpdate = message(order)
        case .trade(let trade):
            m.trade = message(trade)
        case .bookDelta(let instrument, let seq, let changes):
            var delta = Bulwark_Venue_V1_BookDeltaMsg()
            delta.instrument = instrument
            delta.seq = seq
            delta.changes = changes.map { level(price: $0.price, qty: $0.qty, side: $0.side) }
            m.bookDelta = delta
        case .balanceUpdate(let account, let balance):
            var update = Bulwark_Venue_V1_AccountBalanceMsg()
            update.accountID = account
            update.balance = message(balance)
            m.balanceUpdate = update
        case .positionUpdate(let account, let position):
            var update = Bulwark_Venue_V1_AccountPositionMsg()
            update.accountID = account
            update.position = message(position)
            m.positionUpdate = update
        }
        return m
    }

    static func event(_ m: Bulwark_Venue_V1_EngineEventMsg) throws -> EngineEvent {
        switch m.event {
        case .orderUpdate(let order): return .orderUpdate(try Wire.order(order))
        case .trade(let trade): return .trade(try Wire.trade(trade))
        case .bookDelta(let delta):
            let changes = try delta.changes.map { change in
                BookLevelChange(
                    side: try enumValue(change.side, OrderSide.self, "change side"), price: try decimal(change.price, "change price"),
                    qty: try decimal(change.qty, "change qty"))
            }
            return .bookDelta(instrument: delta.instrument, seq: delta.seq, changes: changes)
        case .balanceUpdate(let update): return .balanceUpdate(accountID: update.accountID, try balance(update.balance))
        case .positionUpdate(let update): return .positionUpdate(accountID: update.accountID, try position(update.position))
        case nil: throw WireError("empty event")
        }
    }

    // MARK: Deposits

    static func message(_ d: VenueDeposit) -> Bulwark_Venue_V1_DepositMsg {
        var m = Bulwark_Venue_V1_DepositMsg()
        m.id = d.id
        m.accountID = d.accountID
        m.asset = d.asset
        m.amount = d.amount.description
        return m
    }

    static func deposit(_ m: Bulwark_Venue_V1_DepositMsg) throws -> VenueDeposit {
        VenueDeposit(id: m.id, accountID: m.accountID, asset: m.asset, amount: try decimal(m.amount, "amount"))
    }
}
