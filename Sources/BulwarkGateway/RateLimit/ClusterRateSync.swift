import BulwarkCore
import BulwarkStore
import Logging

/// Every `interval`: reports what this node admitted on per-account buckets and absorbs what the
/// other nodes admitted (`ClusterRateLedger` explains the algorithm and its error bound). While
/// the store is unreachable the node keeps limiting on its own view and keeps its unsent spending
/// for the next successful exchange.
struct ClusterRateSync: Sendable {
    let exchange: any RateCounterExchange
    let ledger: ClusterRateLedger
    let limits: AccountRateLimits
    let node: String
    let interval: Duration
    let clock: any WallClock
    let logger: Logger

    /// Counters idle for longer than this are not read again (their growth was seen long ago).
    static let windowMs: Int64 = 10_000

    func run() async {
        var failing = false
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            let spending = ledger.takePending()
            do {
                let counters = try exchange.exchangeRateCounters(node: node, spending: spending, windowMs: Self.windowMs)
                limits.absorb(ledger.remoteSpending(counters), nowMs: clock.nowMs())
                if failing {
                    failing = false
                    logger.notice("cluster rate-limit sync recovered")
                }
            } catch {
                ledger.restorePending(spending)
                if !failing {
                    failing = true
                    logger.error("cluster rate-limit sync failed: limits are per node until it recovers", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
