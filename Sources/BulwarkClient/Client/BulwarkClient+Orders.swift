import BulwarkCore

/// `client_order_id`s (1-36 of `[A-Za-z0-9_-]`, PROTOCOL.md §6): the gateway treats a repeat as the
/// same order, so keep the id to retry a place safely (a lost answer, `status: unknown`).
public enum ClientOrderID {
    public static func generate(prefix: String = "sw") -> String {
        let hex = SecureRandom.bytes(count: 12).map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
        }.joined()
        return String((prefix + "-" + hex).prefix(36))
    }
}

/// The params of `private/order.place`.
public struct OrderRequest: Sendable {
    public var instrument: String
    public var side: Side
    /// `limit` or `market`.
    public var type: String
    public var qty: String
    public var price: String?
    /// `gtc` (limit default), `ioc` (market default), `fok`, `post_only`.
    public var tif: String?
    public var clientOrderID: String
    public var deadlineMs: Int64?

    public static func limit(
        _ instrument: String, _ side: Side, qty: String, price: String, tif: String = "gtc", clientOrderID: String = ClientOrderID.generate()
    ) -> OrderRequest {
        OrderRequest(instrument: instrument, side: side, type: "limit", qty: qty, price: price, tif: tif, clientOrderID: clientOrderID)
    }

    public static func market(_ instrument: String, _ side: Side, qty: String, tif: String = "ioc", clientOrderID: String = ClientOrderID.generate())
        -> OrderRequest
    {
        OrderRequest(instrument: instrument, side: side, type: "market", qty: qty, price: nil, tif: tif, clientOrderID: clientOrderID)
    }

    public var params: JSONObject {
        var members: [(key: String, value: JSONValue)] = [
            ("instrument", .string(instrument)), ("side", .string(side.rawValue)), ("type", .string(type)), ("qty", .string(qty)),
        ]
        if let price { members.append(("price", .string(price))) }
        if let tif { members.append(("tif", .string(tif))) }
        members.append(("client_order_id", .string(clientOrderID)))
        if let deadlineMs { members.append(("deadline_ms", .int(deadlineMs))) }
        return JSONObject(members)
    }
}

/// Which order a cancel, amend or status query means.
public enum OrderReference: Sendable {
    case orderID(String)
    case clientOrderID(String)

    var member: (key: String, value: JSONValue) {
        switch self {
        case .orderID(let id): ("order_id", .string(id))
        case .clientOrderID(let id): ("client_order_id", .string(id))
        }
    }
}

extension BulwarkClient {
    /// Places an order. Retrying with the same request (same `clientOrderID`) returns the same order
    /// (`duplicate: true`), so a `rate_limited` answer is retried safely.
    public func place(_ order: OrderRequest) async throws -> Order {
        Order(raw: try await call("private/order.place", order.params))
    }

    /// A limit order with a generated `client_order_id`.
    public func placeLimit(_ instrument: String, _ side: Side, qty: String, price: String, tif: String = "gtc") async throws -> Order {
        try await place(.limit(instrument, side, qty: qty, price: price, tif: tif))
    }

    public func placeMarket(_ instrument: String, _ side: Side, qty: String) async throws -> Order {
        try await place(.market(instrument, side, qty: qty))
    }

    /// `price` and/or `qty` (the new total, filled part included).
    public func amend(_ order: OrderReference, price: String? = nil, qty: String? = nil) async throws -> Order {
        var members = [order.member]
        if let price { members.append(("price", .string(price))) }
        if let qty { members.append(("qty", .string(qty))) }
        return Order(raw: try await call("private/order.amend", JSONObject(members)))
    }

    public func cancel(_ order: OrderReference) async throws -> Order {
        Order(raw: try await call("private/order.cancel", JSONObject([order.member])))
    }

    /// Cancels every open order (of one instrument); returns the cancelled orders.
    public func cancelAll(instrument: String? = nil) async throws -> [Order] {
        let result = try await call("private/order.cancel_all", instrument.map { ["instrument": .string($0)] } ?? JSONObject())
        return (result["cancelled"]?.arrayValue ?? []).compactMap(\.objectValue).map(Order.init(raw:))
    }

    public func orderStatus(_ order: OrderReference) async throws -> Order {
        Order(raw: try await call("private/order.status", JSONObject([order.member])))
    }

    public func openOrders() async throws -> [Order] {
        (try await call("private/orders.open")["orders"]?.arrayValue ?? []).compactMap(\.objectValue).map(Order.init(raw:))
    }

    /// `[{asset, total, available}]`.
    public func balances() async throws -> [JSONObject] {
        (try await call("private/account.balances")["balances"]?.arrayValue ?? []).compactMap(\.objectValue)
    }

    /// `[{instrument, qty}]` (signed quantities).
    public func positions() async throws -> [JSONObject] {
        (try await call("private/account.positions")["positions"]?.arrayValue ?? []).compactMap(\.objectValue)
    }

    /// The dead-man's switch: unless called again within `timeoutMs`, every open order is cancelled (0 disarms).
    @discardableResult
    public func cancelAllAfter(timeoutMs: Int64) async throws -> JSONObject {
        try await call("private/cancel_all_after", ["timeout_ms": .int(timeoutMs)])
    }

    /// `private/mfa.verify`: a TOTP (or recovery) code raises the session to aal2.
    @discardableResult
    public func stepUp(code: String) async throws -> JSONObject {
        try await call("private/mfa.verify", ["code": .string(code)])
    }

    /// Ends the session (optionally cancelling its orders) and closes the connection.
    public func logout(cancelOrders: Bool) async throws {
        _ = try await call("private/logout", ["cancel_orders": .bool(cancelOrders)])
        await close()
    }
}
