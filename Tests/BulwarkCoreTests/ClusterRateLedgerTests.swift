import BulwarkCore
import Testing

struct ClusterRateLedgerTests {
    let orders = ClusterRateLedger.Key(bucket: "orders", subject: "a_1")

    @Test func absorbedSpendingElsewhereEmptiesTheLocalBucketIntoDebtOfAtMostOneBurst() {
        let limit = RateLimit.perSecond(10)
        var bucket = GCRAState()
        bucket.absorb(6, limit: limit, nowMs: 1_000)
        #expect(bucket.peek(limit: limit, nowMs: 1_000).remaining == 4)
        // Other nodes spent far more than the burst (each had its own view): debt, capped.
        bucket.absorb(50, limit: limit, nowMs: 1_000)
        #expect(bucket.peek(limit: limit, nowMs: 1_000).remaining == 0)
        #expect(!bucket.charge(1, limit: limit, nowMs: 1_000).allowed)
        // One burst of debt: nothing for a full period, then the steady rate (one per 100 ms).
        #expect(!bucket.charge(1, limit: limit, nowMs: 2_000).allowed)
        #expect(bucket.charge(1, limit: limit, nowMs: 2_100).allowed)
        #expect(!bucket.charge(1, limit: limit, nowMs: 2_100).allowed)
    }

    @Test func pendingSpendingIsTakenOnceAndRestoredWhenTheStoreFailed() {
        let ledger = ClusterRateLedger(startedMs: 0)
        ledger.recordLocal(orders, cost: 2)
        ledger.recordLocal(orders, cost: 3)
        ledger.recordLocal(orders, cost: 0)
        #expect(ledger.takePending() == [orders: 5])
        #expect(ledger.takePending().isEmpty)
        ledger.restorePending([orders: 5])
        ledger.recordLocal(orders, cost: 1)
        #expect(ledger.takePending() == [orders: 6])
    }

    @Test func remoteSpendingIsTheGrowthOfEachNodesCounterSinceTheLastRead() {
        let ledger = ClusterRateLedger(startedMs: 10_000)
        // Counters older than this node are history: baselines, no spending.
        let old = [
            ClusterRateLedger.Counter(key: orders, node: "b", total: 500, createdMs: 1_000),
            ClusterRateLedger.Counter(key: orders, node: "c", total: 7, createdMs: 11_000),
        ]
        // ... but one created after we started counts in full.
        #expect(ledger.remoteSpending(old) == [orders: 7])
        let later = [
            ClusterRateLedger.Counter(key: orders, node: "b", total: 504, createdMs: 1_000),
            ClusterRateLedger.Counter(key: orders, node: "c", total: 9, createdMs: 11_000),
        ]
        #expect(ledger.remoteSpending(later) == [orders: 6])
        #expect(ledger.remoteSpending(later).isEmpty)
    }

    @Test func aCounterThatWasResetIsANewBaselineNotNegativeSpending() {
        let ledger = ClusterRateLedger(startedMs: 0)
        _ = ledger.remoteSpending([ClusterRateLedger.Counter(key: orders, node: "b", total: 100, createdMs: 5)])
        #expect(ledger.remoteSpending([ClusterRateLedger.Counter(key: orders, node: "b", total: 3, createdMs: 900)]).isEmpty)
        #expect(ledger.remoteSpending([ClusterRateLedger.Counter(key: orders, node: "b", total: 5, createdMs: 900)]) == [orders: 2])
    }

    /// Two nodes, each admitting locally, syncing through a shared map: over a long run the pair
    /// admits no more than one node's allowance plus the documented bound.
    @Test func twoSyncingNodesStayWithinTheDocumentedBound() {
        let limit = RateLimit.perSecond(10)
        let syncMs: Int64 = 200
        var shared: [String: Int64] = [:]
        let ledgers = ["a": ClusterRateLedger(startedMs: 0), "b": ClusterRateLedger(startedMs: 0)]
        var buckets = ["a": GCRAState(), "b": GCRAState()]
        var admitted: Int64 = 0
        let durationMs: Int64 = 10_000
        var now: Int64 = 0
        while now < durationMs {
            // Both nodes are hammered every millisecond.
            for node in ["a", "b"] where buckets[node]!.charge(1, limit: limit, nowMs: now).allowed {
                admitted += 1
                ledgers[node]!.recordLocal(orders, cost: 1)
            }
            if now % syncMs == 0 {
                for node in ["a", "b"] {
                    shared[node, default: 0] += ledgers[node]!.takePending()[orders] ?? 0
                    let others = shared.filter { $0.key != node }.map {
                        ClusterRateLedger.Counter(key: orders, node: $0.key, total: $0.value, createdMs: 0)
                    }
                    let spent = ledgers[node]!.remoteSpending(others)[orders] ?? 0
                    buckets[node]!.absorb(spent, limit: limit, nowMs: now)
                }
            }
            now += 1
        }
        let oneNode = limit.count + limit.count * durationMs / limit.periodMs
        let bound = (limit.count + limit.count * syncMs / limit.periodMs)  // (N − 1) · (B + R · S), N = 2
        #expect(admitted <= oneNode + bound)
        // And the sync does bite: without it two nodes would admit twice the allowance.
        #expect(admitted < 2 * oneNode * 3 / 4)
    }
}
