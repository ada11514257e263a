import BulwarkCore
import BulwarkSessions
import BulwarkVenue

/// JSON shapes of results and channel data (docs/protocol.md). Decimals are always strings.
enum Render {
    static func instruments(_ list: [Instrument], to w: inout JSONWriter) {
        w.beginObject()
        w.key("instruments")
        w.beginArray()
        for instrument in list {
            w.beginObject()
            field(&w, "symbol", instrument.symbol)
            field(&w, "kind", instrument.kind.name)
            field(&w, "base_asset", instrument.baseAsset)
            field(&w, "quote_asset", instrument.quoteAsset)
            field(&w, "tick_size", instrument.tickSize.description)
            field(&w, "lot_size", instrument.lotSize.description)
            field(&w, "min_qty", instrument.minQty.description)
            field(&w, "max_qty", instrument.maxQty.description)
            field(&w, "max_order_notional", instrument.maxOrderNotional.description)
            if let collar = instrument.priceCollar { field(&w, "price_collar", collar.description) }
            if let maxPosition = instrument.maxPosition { field(&w, "max_position", maxPosition.description) }
            field(&w, "maker_fee_rate", instrument.makerFeeRate.description)
            field(&w, "taker_fee_rate", instrument.takerFeeRate.description)
            field(&w, "status", instrument.status.rawValue)
            if case .option(let underlying, let strike, let expiryMs, let right) = instrument.kind {
                field(&w, "underlying", underlying)
                field(&w, "strike", strike.description)
                w.key("expiry_ms")
                w.int(expiryMs)
                field(&w, "right", right.rawValue)
            }
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    static func order(_ order: Order, duplicate: Bool?, to w: inout JSONWriter) {
        w.beginObject()
        field(&w, "order_id", order.orderID)
        field(&w, "client_order_id", order.clientOrderID)
        field(&w, "instrument", order.instrument)
        field(&w, "side", order.side.rawValue)
        field(&w, "type", order.type.rawValue)
        field(&w, "tif", order.timeInForce.rawValue)
        if let price = order.price { field(&w, "price", price.description) }
        field(&w, "qty", order.qty.description)
        field(&w, "filled_qty", order.filledQty.description)
        field(&w, "remaining_qty", order.status.isFinal ? "0" : order.remainingQty.description)
        if let average = order.averagePrice { field(&w, "avg_price", average.description) }
        field(&w, "status", order.status.rawValue)
        if let reason = order.cancelReason { field(&w, "cancel_reason", reason.rawValue) }
        w.key("created_ms")
        w.int(order.createdMs)
        w.key("updated_ms")
        w.int(order.updatedMs)
        if let duplicate {
            w.key("duplicate")
            w.bool(duplicate)
        }
        w.endObject()
    }

    static func publicTrade(_ trade: Trade, to w: inout JSONWriter) {
        w.beginObject()
        field(&w, "trade_id", trade.tradeID)
        field(&w, "instrument", trade.instrument)
        field(&w, "price", trade.price.description)
        field(&w, "qty", trade.qty.description)
        field(&w, "taker_side", trade.takerSide.rawValue)
        w.key("ts_ms")
        w.int(trade.timestampMs)
        w.endObject()
    }

    static func fill(_ trade: Trade, side: OrderSide, fee: FixedDecimal, orderID: String, liquidity: String, to w: inout JSONWriter) {
        w.beginObject()
        field(&w, "trade_id", trade.tradeID)
        field(&w, "order_id", orderID)
        field(&w, "instrument", trade.instrument)
        field(&w, "side", side.rawValue)
        field(&w, "price", trade.price.description)
        field(&w, "qty", trade.qty.description)
        field(&w, "fee", fee.description)
        field(&w, "liquidity", liquidity)
        w.key("ts_ms")
        w.int(trade.timestampMs)
        w.endObject()
    }

    static func book(type: String, bids: [(price: FixedDecimal, qty: FixedDecimal)], asks: [(price: FixedDecimal, qty: FixedDecimal)], to w: inout JSONWriter) {
        w.beginObject()
        field(&w, "type", type)
        for (name, levels) in [("bids", bids), ("asks", asks)] {
            w.key(name)
            w.beginArray()
            for level in levels {
                w.beginArray()
                w.string(level.price.description)
                w.string(level.qty.description)
                w.endArray()
            }
            w.endArray()
        }
        w.endObject()
    }

    /// `ticker.<instrument>`: top of book (absent sides are null), last trade, 24 h volume.
    static func ticker(_ ticker: Ticker, to w: inout JSONWriter) {
        w.beginObject()
        field(&w, "instrument", ticker.instrument)
        for (name, level) in [("bid", ticker.bestBid), ("ask", ticker.bestAsk)] {
            w.key("best_\(name)")
            if let level { w.string(level.price.description) } else { w.null() }
            w.key("best_\(name)_qty")
            if let level { w.string(level.qty.description) } else { w.null() }
        }
        w.key("last_price")
        if let last = ticker.lastPrice { w.string(last.description) } else { w.null() }
        field(&w, "volume_24h", ticker.volume24h.description)
        if let reference = ticker.referencePrice { field(&w, "reference_price", reference.description) }
        w.key("ts_ms")
        w.int(ticker.timestampMs)
        w.endObject()
    }

    /// The reply to an order.place whose outcome the gateway does not know (venue timeout): what
    /// was asked, `status: unknown`, no order id and no `duplicate` (the gateway cannot know
    /// either). The outcome follows on `orders`.
    static func unknownOrder(_ request: OrderRequest, to w: inout JSONWriter) {
        w.beginObject()
        field(&w, "client_order_id", request.clientOrderID)
        field(&w, "instrument", request.instrument)
        field(&w, "side", request.side.rawValue)
        field(&w, "type", request.type.rawValue)
        field(&w, "tif", request.timeInForce.rawValue)
        if let price = request.price { field(&w, "price", price.description) }
        field(&w, "qty", request.qty.description)
        field(&w, "status", "unknown")
        w.endObject()
    }

    static func balance(_ balance: Balance, to w: inout JSONWriter) {
        w.beginObject()
        field(&w, "asset", balance.asset)
        field(&w, "total", balance.total.description)
        field(&w, "available", balance.available.description)
        w.endObject()
    }

    /// A session as its owner and operators see it: lifetimes, risk and assurance included.
    /// `stepUpRequired` is given for the session's own `session.status`.
    static func session(
        _ session: Session, boundConnections: Int? = nil, stepUpRequired: Bool? = nil, nowMs: Int64, to w: inout JSONWriter,
        extra: ((inout JSONWriter) -> Void)? = nil
    ) {
        w.beginObject()
        field(&w, "session_id", session.id)
        field(&w, "account_id", session.accountID)
        field(&w, "key_id", session.keyID)
        field(&w, "auth_method", session.authMethod)
        w.key("scopes")
        w.beginArray()
        for scope in session.scopes.sorted() { w.string(scope.rawValue) }
        w.endArray()
        field(&w, "client_ip", session.clientIP)
        field(&w, "network", session.network)
        w.key("created_ms")
        w.int(session.createdMs)
        w.key("last_activity_ms")
        w.int(session.lastActivityMs)
        w.key("idle_timeout_ms")
        w.int(session.idleTimeoutMs)
        w.key("absolute_deadline_ms")
        w.int(session.absoluteDeadlineMs)
        w.key("expires_at_ms")
        w.int(session.expiresAtMs)
        w.key("base_idle_timeout_ms")
        w.int(session.baseIdleTimeoutMs)
        w.key("base_absolute_timeout_ms")
        w.int(session.baseAbsoluteTimeoutMs)
        field(&w, "assurance", session.assurance(atMs: nowMs).rawValue)
        if let verified = session.mfaVerifiedAtMs {
            w.key("mfa_verified_ms")
            w.int(verified)
        }
        if let until = session.stepUpUntilMs, until > nowMs {
            w.key("step_up_until_ms")
            w.int(until)
        }
        w.key("risk")
        risk(session.risk, to: &w)
        if let boundConnections {
            w.key("connections")
            w.int(Int64(boundConnections))
        }
        if let stepUpRequired {
            w.key("step_up_required")
            w.bool(stepUpRequired)
        }
        extra?(&w)
        w.endObject()
    }

    static func risk(_ risk: SessionRisk, to w: inout JSONWriter) {
        w.beginObject()
        w.key("score")
        score(risk.score, to: &w)
        field(&w, "level", risk.level.rawValue)
        w.key("reasons")
        w.beginArray()
        for reason in risk.reasons { w.string(reason) }
        w.endArray()
        w.endObject()
    }

    /// A score in [0, 1] as a JSON number with three decimals (`0.125`), never in exponent form.
    static func score(_ value: Double, to w: inout JSONWriter) {
        let thousandths = Int64((min(max(value.isNaN ? 1 : value, 0), 1) * 1000).rounded())
        let digits = String(thousandths)
        let text = thousandths == 1000 ? "1" : "0." + String(repeating: "0", count: 3 - digits.count) + digits
        w.number(JSONNumber(text)!)
    }

    static func field(_ w: inout JSONWriter, _ key: String, _ value: String) {
        w.key(key)
        w.string(value)
    }
}
