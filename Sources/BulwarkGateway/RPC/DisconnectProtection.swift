import BulwarkAuth
import BulwarkCore
import Synchronization

/// Cancel-on-disconnect (PROTOCOL.md §4.1 `cancel_on_disconnect`): after a connection drops, and
/// a grace period, cancels the orders it protected, unless the client resumed the session on a new
/// connection within the grace period.
///
/// Timers are kept per session (not per connection) precisely so that a resume can stop them.
final class DisconnectProtection: Sendable {
    private struct State {
        /// Armed timers by session id, then by the connection that dropped.
        var armed: [String: [String: Task<Void, Never>]] = [:]
        /// Orders placed in each live session (for the `session` scope).
        var placedInSession: [String: Set<String>] = [:]
        /// Sessions another node took over, most recent last: their connections here closing must
        /// not start a timer (the client is back, elsewhere). Bounded: the oldest are forgotten.
        var movedAway: [String] = []
        var movedAwaySet: Set<String> = []
    }

    private let state = Mutex(State())
    /// Orders remembered per session before those no longer open are pruned.
    static let maxTrackedOrders = 10_000

    /// Remembers an order placed in a session; returns true when the set outgrew its bound and
    /// should be pruned to the open orders.
    func recordPlaced(sessionID: String, orderID: String) -> Bool {
        state.withLock { state in
            state.placedInSession[sessionID, default: []].insert(orderID)
            return state.placedInSession[sessionID]!.count > Self.maxTrackedOrders
        }
    }

    func prune(sessionID: String, keeping open: Set<String>) {
        state.withLock { state in state.placedInSession[sessionID]?.formIntersection(open) }
    }

    func ordersPlaced(inSession sessionID: String) -> Set<String> { state.withLock { $0.placedInSession[sessionID] ?? [] } }

    /// Starts the grace timer for a dropped connection; `orders` are the ones to cancel if it fires.
    func arm(
        _ protection: SignatureGrant.CancelOnDisconnect, sessionID: String, accountID: String, connectionID: String,
        orders: Set<String>, app: GatewayApp
    ) {
        guard !state.withLock({ $0.movedAwaySet.contains(sessionID) }) else { return }
        let task = Task { [weak self] in
            if protection.graceMs > 0 { try? await Task.sleep(for: .milliseconds(protection.graceMs)) }
            guard !Task.isCancelled, let self, self.claim(sessionID: sessionID, connectionID: connectionID) else { return }
            var cancelled: [String] = []
            for order in (try? await app.venue.openOrders(accountID: accountID)) ?? [] where orders.contains(order.orderID) {
                if case .success = await app.venue.cancel(accountID: accountID, orderID: order.orderID, nowMs: app.clock.nowMs()) {
                    cancelled.append(order.orderID)
                }
            }
            Self.report(app, type: "cancel_on_disconnect", sessionID: sessionID, accountID: accountID, connectionID: connectionID, cancelled: cancelled)
        }
        state.withLock { state in state.armed[sessionID, default: [:]][connectionID] = task }
    }

    /// The session was resumed on a new connection: every pending cancel of it is called off.
    /// Returns how many timers were stopped.
    @discardableResult
    func disarm(sessionID: String) -> Int {
        let tasks = state.withLock { state in state.armed.removeValue(forKey: sessionID) ?? [:] }
        for task in tasks.values { task.cancel() }
        return tasks.count
    }

    /// Another node took the session over (its client resumed there): stops its timers here,
    /// forgets its orders, and refuses timers for it from connections here that close later.
    func sessionMovedAway(_ sessionID: String) {
        disarm(sessionID: sessionID)
        state.withLock { state in
            state.placedInSession.removeValue(forKey: sessionID)
            guard state.movedAwaySet.insert(sessionID).inserted else { return }
            state.movedAway.append(sessionID)
            if state.movedAway.count > Self.maxRememberedMoves {
                state.movedAwaySet.remove(state.movedAway.removeFirst())
            }
        }
    }

    static let maxRememberedMoves = 4096

    /// The session is over for good: forget its orders (armed timers still fire).
    func forget(sessionID: String) {
        state.withLock { state in _ = state.placedInSession.removeValue(forKey: sessionID) }
    }

    /// A timer that fires removes itself first, so a resume racing with it either stops it or
    /// finds nothing to stop, never both.
    private func claim(sessionID: String, connectionID: String) -> Bool {
        state.withLock { state in
            guard state.armed[sessionID]?.removeValue(forKey: connectionID) != nil else { return false }
            if state.armed[sessionID]?.isEmpty == true { state.armed.removeValue(forKey: sessionID) }
            return true
        }
    }

    /// Logs a firing and tells the account on its `session` channel which orders were cancelled.
    static func report(_ app: GatewayApp, type: String, sessionID: String, accountID: String, connectionID: String?, cancelled: [String]) {
        app.logger.notice(
            "protection fired",
            metadata: ["type": "\(type)", "account": "\(accountID)", "connection": "\(connectionID ?? "-")", "cancelled": "\(cancelled.count)"])
        let now = app.clock.nowMs()
        app.marketData.publishSessionEvent(accountID: accountID) { w in
            w.beginObject()
            w.key("type")
            w.string(type)
            w.key("session_id")
            w.string(sessionID)
            if let connectionID {
                w.key("connection_id")
                w.string(connectionID)
            }
            w.key("cancelled")
            w.beginArray()
            for orderID in cancelled { w.string(orderID) }
            w.endArray()
            w.key("ts_ms")
            w.int(now)
            w.endObject()
        }
    }
}
