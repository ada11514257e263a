import BulwarkCore

/// The venue as the gateway sees it: order entry, account queries and what market-data
/// subscriptions need. `BuiltinVenue` (in process) and `RemoteVenue` (BulwarkVenueRPC, a venue
/// process reached over gRPC) conform; the gateway holds an `any Venue` and does not know which.
///
/// Order entry answers refusals as `OrderRejection`s. A venue that cannot be reached refuses with
/// `internal_error` and reason `VenueLink.unavailable`; a `place` that was sent but whose answer
/// never came is refused with reason `VenueLink.outcomeUnknown` (the gateway answers
/// `status: unknown`, never a plain error: the order may exist). Queries throw `VenueUnavailable`.
///
/// Events (market data and private updates) reach the `VenueEventSink` the venue was built with,
/// in the venue's serial order. `withBookSnapshot` and `withTicker` run their body in that same
/// order, so a subscriber registered inside the body sees every later event and none before.
public protocol Venue: AnyObject, Sendable {
    func instruments() async throws(VenueUnavailable) -> [Instrument]
    func hasInstrument(_ symbol: String) async throws(VenueUnavailable) -> Bool

    func place(_ request: OrderRequest, nowMs: Int64) async -> Result<PlaceOutcome, OrderRejection>
    func cancel(accountID: String, orderID: String, nowMs: Int64) async -> Result<Order, OrderRejection>
    func amend(
        accountID: String, orderID: String, newPrice: FixedDecimal?, newQty: FixedDecimal?, nowMs: Int64, maxNotional: FixedDecimal?
    ) async -> Result<Order, OrderRejection>
    /// The account's resting orders that were cancelled (empty when the venue is stopped or unreachable).
    func cancelAll(accountID: String, instrument: String?, reason: CancelReason, nowMs: Int64) async -> [Order]
    /// Credits the deposits not credited before (idempotent by id); returns how many were new.
    @discardableResult
    func applyDeposits(_ deposits: [VenueDeposit], nowMs: Int64) async throws(VenueUnavailable) -> Int

    func order(accountID: String, orderID: String) async throws(VenueUnavailable) -> Order?
    func order(accountID: String, clientOrderID: String) async throws(VenueUnavailable) -> Order?
    func openOrders(accountID: String) async throws(VenueUnavailable) -> [Order]
    func balances(accountID: String) async throws(VenueUnavailable) -> [Balance]
    func positions(accountID: String) async throws(VenueUnavailable) -> [Position]

    /// Best prices (nil: that side is empty, or unknown).
    func bestBidAsk(instrument: String) async -> (bid: FixedDecimal?, ask: FixedDecimal?)
    /// Runs `body` with the published view of the book, in the venue's serial order; false for an
    /// unknown instrument.
    func withBookSnapshot(instrument: String, _ body: @Sendable (BookSnapshot) -> Void) async -> Bool
    /// Runs `body` with the current ticker, in the venue's serial order; false for an unknown instrument.
    func withTicker(instrument: String, _ body: @Sendable (Ticker) -> Void) async -> Bool
}

extension Venue {
    public func cancelAll(accountID: String, instrument: String?, nowMs: Int64) async -> [Order] {
        await cancelAll(accountID: accountID, instrument: instrument, reason: .cancelAll, nowMs: nowMs)
    }
}

/// The venue could not be asked (a remote venue down or unreachable).
public struct VenueUnavailable: Error, Sendable, Equatable {
    public init() {}
}

/// The reasons a venue link failure is reported with (`internal_error`, `data.reason`).
public enum VenueLink {
    /// Nothing was sent, or the operation certainly did not happen.
    public static let unavailable = "venue_unavailable"
    /// An order was sent and no answer came: it may or may not exist.
    public static let outcomeUnknown = "venue_outcome_unknown"

    public static var unavailableRejection: OrderRejection { OrderRejection(.internalError, reason: unavailable) }
    public static var outcomeUnknownRejection: OrderRejection { OrderRejection(.internalError, reason: outcomeUnknown) }
}

/// `withBookSnapshot` and `withTicker` take non-Sendable bodies on the actor itself (tests collect
/// into local variables); they satisfy the `@Sendable` requirements as they are.
extension BuiltinVenue: Venue {}
