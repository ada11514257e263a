import BulwarkCore
import BulwarkSessions
import BulwarkStore
import Synchronization

/// Kill switches per account, per key and global (issue 12): while one is engaged its scope places
/// no orders (`trading_halted`, reason `kill_switch`). Engaging cancels the scope's open orders and
/// ends its sessions (`session.terminated` reason `kill_switch`, close 4003); only an operator
/// releases it. State comes from the store, so an engagement from the CLI reaches the running
/// gateway through the change feed.
final class KillSwitches: Sendable {
    private struct Active {
        var global = false
        var accounts: Set<String> = []
        var keys: Set<String> = []
    }

    private let active = Mutex(Active())
    private let store: any Store

    init(store: any Store) { self.store = store }

    func reload() throws {
        var next = Active()
        for record in try store.killSwitches() {
            switch record.scope {
            case .global: next.global = true
            case .account: next.accounts.insert(record.subject)
            case .key: next.keys.insert(record.subject)
            }
        }
        active.withLock { $0 = next }
    }

    /// Whether orders from this account and key are blocked.
    func halts(accountID: String, keyID: String) -> Bool {
        active.withLock { $0.global || $0.accounts.contains(accountID) || $0.keys.contains(keyID) }
    }

    var isGlobalEngaged: Bool { active.withLock { $0.global } }

    /// Applies a newly engaged switch: cancel the scope's open orders and end its sessions.
    /// Returns (orders cancelled, sessions ended).
    func enforce(_ record: KillSwitchRecord, app: GatewayApp) async -> (orders: Int, sessions: Int) {
        let now = app.clock.nowMs()
        var accounts: [String]
        var sessionsEnded = 0
        switch record.scope {
        case .global:
            accounts = (try? store.accounts().map(\.id)) ?? []
            sessionsEnded = app.sessions.all.reduce(0) { count, session in
                count + (app.sessions.end(id: session.id, reason: .killSwitch, nowMs: now) ? 1 : 0)
            }
        case .account:
            accounts = [record.subject]
            sessionsEnded = app.sessions.endAll(accountID: record.subject, reason: .killSwitch, nowMs: now)
        case .key:
            accounts = []
            sessionsEnded = app.sessions.endAll(keyID: record.subject, reason: .killSwitch, nowMs: now)
        }
        var cancelled = 0
        for account in accounts {
            cancelled += await app.venue.cancelAll(accountID: account, instrument: nil, reason: .killSwitch, nowMs: now).count
        }
        if record.scope == .key {
            // Only the key's own orders: the account's other keys keep theirs.
            if let key = try? store.apiKey(id: record.subject) {
                for order in (try? await app.venue.openOrders(accountID: key.accountID)) ?? [] where order.keyID == record.subject {
                    if case .success = await app.venue.cancel(accountID: key.accountID, orderID: order.orderID, nowMs: now) { cancelled += 1 }
                }
            }
        }
        return (cancelled, sessionsEnded)
    }
}
