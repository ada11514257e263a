import BulwarkCore
import BulwarkVenue
import GRPCCore

/// The gRPC face of a `BuiltinVenue` (`bulwark venue`): each RPC is one call on the venue actor.
/// Refusals are answers (`Rejection`); gRPC errors are kept for malformed requests and a stopped
/// or failing process.
struct VenueRPCService: Bulwark_Venue_V1_Venue.SimpleServiceProtocol {
    let venue: BuiltinVenue
    let events: VenueEventBroadcaster

    private static func decoded<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw GRPCCore.RPCError(code: .invalidArgument, message: "\(error)")
        }
    }

    func place(request: Bulwark_Venue_V1_PlaceRequest, context: ServerContext) async throws -> Bulwark_Venue_V1_PlaceReply {
        let order = try Self.decoded { try Wire.request(request.request) }
        var reply = Bulwark_Venue_V1_PlaceReply()
        switch await venue.place(order, nowMs: request.nowMs) {
        case .success(let outcome):
            var m = Bulwark_Venue_V1_PlaceOutcomeMsg()
            m.order = Wire.message(outcome.order)
            m.duplicate = outcome.duplicate
            m.trades = outcome.trades.map(Wire.message)
            reply.outcome = m
        case .failure(let rejection):
            reply.rejection = Wire.message(rejection)
        }
        return reply
    }

    func cancel(request: Bulwark_Venue_V1_CancelRequest, context: ServerContext) async throws -> Bulwark_Venue_V1_OrderReply {
        Self.reply(await venue.cancel(accountID: request.accountID, orderID: request.orderID, nowMs: request.nowMs))
    }

    func amend(request: Bulwark_Venue_V1_AmendRequest, context: ServerContext) async throws -> Bulwark_Venue_V1_OrderReply {
        let (price, qty, cap) = try Self.decoded {
            (
                request.hasNewPrice ? try Wire.decimal(request.newPrice, "new_price") : nil,
                request.hasNewQty ? try Wire.decimal(request.newQty, "new_qty") : nil,
                request.hasMaxNotional ? try Wire.decimal(request.maxNotional, "max_notional") : nil
            )
        }
        return Self.reply(
            await venue.amend(
                accountID: request.accountID, orderID: request.orderID, newPrice: price, newQty: qty, nowMs: request.nowMs, maxNotional: cap))
    }

    private static func reply(_ result: Result<Order, OrderRejection>) -> Bulwark_Venue_V1_OrderReply {
        var reply = Bulwark_Venue_V1_OrderReply()
        switch result {
        case .success(let order): reply.order = Wire.message(order)
        case .failure(let rejection): reply.rejection = Wire.message(rejection)
        }
        return reply
    }

    func cancelAll(request: Bulwark_Venue_V1_CancelAllRequest, context: ServerContext) async throws -> Bulwark_Venue_V1_OrderList {
        let reason = try Self.decoded { try Wire.enumValue(request.reason, CancelReason.self, "reason") }
        var list = Bulwark_Venue_V1_OrderList()
        list.orders = await venue.cancelAll(
            accountID: request.accountID, instrument: request.hasInstrument ? request.instrument : nil, reason: reason, nowMs: request.nowMs
        ).map(Wire.message)
        return list
    }

    func applyDeposits(request: Bulwark_Venue_V1_DepositsRequest, context: ServerContext) async throws -> Bulwark_Venue_V1_DepositsReply {
        let deposits = try Self.decoded { try request.deposits.map(Wire.deposit) }
        var reply = Bulwark_Venue_V1_DepositsReply()
        reply.credited = Int32(clamping: await venue.applyDeposits(deposits, nowMs: request.nowMs))
        return reply
    }

    func getOrder(request: Bulwark_Venue_V1_OrderQuery, context: ServerContext) async throws -> Bulwark_Venue_V1_OrderLookup {
        let order: Order?
        switch request.by {
        case .orderID(let id): order = await venue.order(accountID: request.accountID, orderID: id)
        case .clientOrderID(let id): order = await venue.order(accountID: request.accountID, clientOrderID: id)
        case nil: throw GRPCCore.RPCError(code: .invalidArgument, message: "order_id or client_order_id required")
        }
        var reply = Bulwark_Venue_V1_OrderLookup()
        if let order { reply.order = Wire.message(order) }
        return reply
    }

    func openOrders(request: Bulwark_Venue_V1_AccountQuery, context: ServerContext) async throws -> Bulwark_Venue_V1_OrderList {
        var list = Bulwark_Venue_V1_OrderList()
        list.orders = await venue.openOrders(accountID: request.accountID).map(Wire.message)
        return list
    }

    func balances(request: Bulwark_Venue_V1_AccountQuery, context: ServerContext) async throws -> Bulwark_Venue_V1_BalanceList {
        var list = Bulwark_Venue_V1_BalanceList()
        list.balances = await venue.balances(accountID: request.accountID).map(Wire.message)
        return list
    }

    func positions(request: Bulwark_Venue_V1_AccountQuery, context: ServerContext) async throws -> Bulwark_Venue_V1_PositionList {
        var list = Bulwark_Venue_V1_PositionList()
        list.positions = await venue.positions(accountID: request.accountID).map(Wire.message)
        return list
    }

    func instruments(request: Bulwark_Venue_V1_InstrumentsRequest, context: ServerContext) async throws -> Bulwark_Venue_V1_InstrumentList {
        var list = Bulwark_Venue_V1_InstrumentList()
        list.instruments = await venue.instruments().map(Wire.message)
        return list
    }

    /// Replays what the subscriber missed (or starts it from the current state), then streams
    /// every event until the gateway goes away or falls too far behind.
    func subscribe(
        request: Bulwark_Venue_V1_SubscribeRequest, response: RPCWriter<Bulwark_Venue_V1_StreamItem>, context: ServerContext
    ) async throws {
        let (id, stream, continuation) = events.makeSubscriber()
        let events = self.events
        let resumed = request.venueRun == events.run && events.resume(id, continuation: continuation, after: request.afterSeq)
        if !resumed {
            // Another run, a position the ring no longer covers, or a first subscription.
            let gap = !request.venueRun.isEmpty
            await venue.withMarketState { books, tickers in
                events.start(id, continuation: continuation, books: books, tickers: tickers, gap: gap)
            }
        }
        do {
            for await item in stream { try await response.write(item) }
        } catch {
            events.remove(id)
            throw error
        }
        if events.remove(id) { throw GRPCCore.RPCError(code: .resourceExhausted, message: "subscriber fell more than \(events.subscriberBuffer) items behind; resume") }
    }
}
