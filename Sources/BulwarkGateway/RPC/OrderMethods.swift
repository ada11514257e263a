import BulwarkCore
import BulwarkSessions
import BulwarkVenue
import Synchronization

/// Order entry and account queries: strict parameter parsing, then the venue.
struct OrderMethods {
    let venue: any Venue
    let clock: any WallClock
    let restrictions: KeyRestrictions
    /// `venue.timeout_ms` and the test-only `venue.test_delay_ms`.
    var timing = VenueTiming()

    struct VenueTiming: Sendable {
        var timeoutMs: Int64 = 5000
        var testDelayMs: Int64 = 0
    }

    typealias ResultWriter = @Sendable (inout JSONWriter) -> Void

    static let placeMembers: Set<String> = ["instrument", "side", "type", "qty", "price", "tif", "client_order_id", "deadline_ms"]
    static let amendMembers: Set<String> = ["order_id", "client_order_id", "price", "qty", "deadline_ms"]

    /// An order that was placed: its id (for cancel-on-disconnect) and estimated notional (for the
    /// account's risk baseline).
    struct Placed: Sendable {
        let orderID: String
        let notional: FixedDecimal?
    }

    /// The result writer, and the newly placed order if there is one.
    func handle(_ method: PrivateMethod, params: JSONObject, session: Session, gate: StepUpGate) async throws(RPCError) -> (ResultWriter, Placed?) {
        switch method {
        case .orderPlace: return try await place(params, session: session, gate: gate)
        case .orderAmend: return (try await amend(params, session: session, gate: gate), nil)
        default: return (try await handleOther(method, params: params, session: session), nil)
        }
    }

    private func place(_ params: JSONObject, session: Session, gate: StepUpGate) async throws(RPCError) -> (ResultWriter, Placed?) {
        var request = try Self.parsePlace(params, session: session)
        // A key limited to some instruments cannot trade others; its notional cap joins the instrument's.
        guard restrictions.allows(instrument: request.instrument) else {
            throw RPCError(.forbidden, field: "params.instrument", reason: "instrument_not_allowed_for_key")
        }
        let notional = await estimatedNotional(request)
        try gate.checkOrder(notional: notional)
        request.maxNotional = restrictions.maxOrderNotional
        let (venue, clock, delayMs, placing) = (venue, clock, timing.testDelayMs, request)
        let answer = await VenueCall.withTimeout(ms: timing.timeoutMs) {
            if delayMs > 0 { try? await Task.sleep(for: .milliseconds(delayMs)) }
            return await venue.place(placing, nowMs: clock.nowMs())
        }
        // No answer in time, or a remote venue took the order and the link failed before it
        // answered: the venue may still accept it. The client learns the outcome on `orders`, or
        // by placing the same client_order_id again (a duplicate then returns the original).
        var linkLostAnswer = false
        if case .failure(let rejection)? = answer { linkLostAnswer = rejection == VenueLink.outcomeUnknownRejection }
        guard let answer, !linkLostAnswer else {
            return ({ w in Render.unknownOrder(placing, to: &w) }, nil)
        }
        switch answer {
        case .success(let outcome):
            let (order, duplicate) = (outcome.order, outcome.duplicate)
            return ({ w in Render.order(order, duplicate: duplicate, to: &w) }, duplicate ? nil : Placed(orderID: order.orderID, notional: notional))
        case .failure(let rejection):
            throw RPCError(rejection.code, field: rejection.field, reason: rejection.reason)
        }
    }

    /// Changes a resting order's price and/or total quantity (PROTOCOL.md §6): a price change or a
    /// size increase loses time priority, a size decrease keeps it; the order never trades on an
    /// amend (a crossing price is `invalid_params`, reason `would_cross`).
    private func amend(_ params: JSONObject, session: Session, gate: StepUpGate) async throws(RPCError) -> ResultWriter {
        let reader = try ParamsReader(params, allowed: Self.amendMembers)
        let price = try reader.decimal("price")
        let qty = try reader.decimal("qty")
        guard price != nil || qty != nil else { throw RPCError.invalidParams("price", "price_or_qty_required") }
        if let deadline = try reader.int("deadline_ms", in: 0...(1 << 53)), deadline < clock.nowMs() {
            throw RPCError(.deadlineExceeded, field: "params.deadline_ms")
        }
        let orderID = try await resolveOrderID(reader, account: session.accountID)
        guard let order = try await ask({ try await venue.order(accountID: session.accountID, orderID: orderID) }) else {
            throw RPCError(.orderNotFound, field: "params.order_id")
        }
        guard restrictions.allows(instrument: order.instrument) else {
            throw RPCError(.forbidden, field: "params.order_id", reason: "instrument_not_allowed_for_key")
        }
        try gate.checkOrder(notional: (price ?? order.price).flatMap { $0.multiplied(by: qty ?? order.qty) })
        let result = await venue.amend(
            accountID: session.accountID, orderID: orderID, newPrice: price, newQty: qty, nowMs: clock.nowMs(),
            maxNotional: restrictions.maxOrderNotional)
        switch result {
        case .success(let amended): return { w in Render.order(amended, duplicate: nil, to: &w) }
        case .failure(let rejection): throw RPCError(rejection.code, field: rejection.field, reason: rejection.reason)
        }
    }

    /// price × qty for a limit order; for a market order, qty at the best opposite price.
    private func estimatedNotional(_ request: OrderRequest) async -> FixedDecimal? {
        if let price = request.price { return price.multiplied(by: request.qty) }
        let (bid, ask) = await venue.bestBidAsk(instrument: request.instrument)
        return (request.side == .buy ? ask : bid)?.multiplied(by: request.qty)
    }

    private func handleOther(_ method: PrivateMethod, params: JSONObject, session: Session) async throws(RPCError) -> ResultWriter {
        let account = session.accountID
        switch method {
        case .orderCancel:
            let reader = try ParamsReader(params, allowed: ["order_id", "client_order_id"])
            let orderID = try await resolveOrderID(reader, account: account)
            switch await venue.cancel(accountID: account, orderID: orderID, nowMs: clock.nowMs()) {
            case .success(let order): return { w in Render.order(order, duplicate: nil, to: &w) }
            case .failure(let rejection): throw RPCError(rejection.code, field: rejection.field, reason: rejection.reason)
            }
        case .orderCancelAll:
            let reader = try ParamsReader(params, allowed: ["instrument"])
            let instrument = try reader.string("instrument", maxLength: 48)
            let cancelled = await venue.cancelAll(accountID: account, instrument: instrument, nowMs: clock.nowMs())
            return { w in Self.orderList("cancelled", cancelled, to: &w) }
        case .orderStatus:
            let reader = try ParamsReader(params, allowed: ["order_id", "client_order_id"])
            let orderID = try await resolveOrderID(reader, account: account)
            guard let order = try await ask({ try await venue.order(accountID: account, orderID: orderID) }) else {
                throw RPCError(.orderNotFound, field: "params.order_id")
            }
            return { w in Render.order(order, duplicate: nil, to: &w) }
        case .ordersOpen:
            _ = try ParamsReader(params, allowed: [])
            let open = try await ask { try await venue.openOrders(accountID: account) }
            return { w in Self.orderList("orders", open, to: &w) }
        case .accountBalances:
            _ = try ParamsReader(params, allowed: [])
            let balances = try await ask { try await venue.balances(accountID: account) }
            return { w in
                w.beginObject()
                w.key("balances")
                w.beginArray()
                for balance in balances { Render.balance(balance, to: &w) }
                w.endArray()
                w.endObject()
            }
        case .accountPositions:
            _ = try ParamsReader(params, allowed: [])
            let positions = try await ask { try await venue.positions(accountID: account) }
            return { w in
                w.beginObject()
                w.key("positions")
                w.beginArray()
                for position in positions {
                    w.beginObject()
                    Render.field(&w, "instrument", position.instrument)
                    Render.field(&w, "qty", position.qty.description)
                    w.endObject()
                }
                w.endArray()
                w.endObject()
            }
        default:
            throw RPCError(.methodNotFound)
        }
    }

    /// Exactly one of `order_id` and `client_order_id`.
    private func resolveOrderID(_ reader: ParamsReader, account: String) async throws(RPCError) -> String {
        let orderID = try reader.string("order_id", maxLength: 64)
        let clientOrderID = try reader.string("client_order_id", maxLength: 36)
        switch (orderID, clientOrderID) {
        case (let id?, nil):
            return id
        case (nil, let clientID?):
            guard let order = try await ask({ try await venue.order(accountID: account, clientOrderID: clientID) }) else {
                throw RPCError(.orderNotFound, field: "params.client_order_id")
            }
            return order.orderID
        default:
            throw RPCError.invalidParams("order_id", "exactly_one_of_order_id_or_client_order_id")
        }
    }

    /// A venue query; an unreachable venue is `internal_error`, reason `venue_unavailable`.
    private func ask<T>(_ query: () async throws -> T) async throws(RPCError) -> T {
        do {
            return try await query()
        } catch {
            throw RPCError.venueUnavailable
        }
    }

    static func parsePlace(_ params: JSONObject, session: Session) throws(RPCError) -> OrderRequest {
        try OrderPlaceParsing.parse(params, accountID: session.accountID, keyID: session.keyID)
    }

    static func orderList(_ key: String, _ orders: [Order], to w: inout JSONWriter) {
        w.beginObject()
        w.key(key)
        w.beginArray()
        for order in orders { Render.order(order, duplicate: nil, to: &w) }
        w.endArray()
        w.endObject()
    }
}

/// Waits for a venue call at most `ms`. The call itself is NOT cancelled on a timeout: an order
/// the venue is processing must be allowed to finish (its outcome is published on `orders`).
enum VenueCall {
    private final class Once: Sendable {
        private let fired = Mutex(false)
        /// True exactly once.
        func claim() -> Bool { fired.withLock { done in defer { done = true }; return !done } }
    }

    static func withTimeout<T: Sendable>(ms: Int64, _ operation: @escaping @Sendable () async -> T) async -> T? {
        let work = Task { await operation() }
        let once = Once()
        return await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            let timer = Task {
                try? await Task.sleep(for: .milliseconds(ms))
                if !Task.isCancelled, once.claim() { continuation.resume(returning: nil) }
            }
            Task {
                let value = await work.value
                timer.cancel()
                if once.claim() { continuation.resume(returning: value) }
            }
        }
    }
}

extension RPCError {
    /// The venue process cannot be reached (`bulwark serve --venue grpc://…`).
    static let venueUnavailable = RPCError(.internalError, reason: VenueLink.unavailable)
}

enum ClientOrderID {
    /// 1 to 36 characters of [A-Za-z0-9_-] (PROTOCOL.md §6).
    static func isValid(_ text: String) -> Bool {
        (1...36).contains(text.utf8.count)
            && text.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2D
            }
    }
}

/// The strict parameter rules of `private/order.place` (PROTOCOL.md §6), public for the hot-path
/// benchmarks (Benchmarks/).
public enum OrderPlaceParsing {
    public static func parse(_ params: JSONObject, accountID: String, keyID: String?) throws(RPCError) -> OrderRequest {
        let reader = try ParamsReader(params, allowed: OrderMethods.placeMembers)
        let instrument = try reader.requiredString("instrument", maxLength: 48)
        guard let side = try reader.enumValue("side", as: OrderSide.self) else { throw .invalidParams("side", "required") }
        guard let type = try reader.enumValue("type", as: OrderType.self) else { throw .invalidParams("type", "required") }
        let qty = try reader.requiredDecimal("qty")
        let price = try reader.decimal("price")
        let tif = try reader.enumValue("tif", as: TimeInForce.self) ?? (type == .market ? .ioc : .gtc)
        let clientOrderID = try reader.requiredString("client_order_id", maxLength: 36)
        guard ClientOrderID.isValid(clientOrderID) else { throw .invalidParams("client_order_id", "expected_1_to_36_of_A-Za-z0-9_-") }
        let deadline = try reader.int("deadline_ms", in: 0...(1 << 53))
        return OrderRequest(
            accountID: accountID, keyID: keyID, instrument: instrument, side: side, type: type, qty: qty,
            price: price, timeInForce: tif, clientOrderID: clientOrderID, deadlineMs: deadline)
    }
}
