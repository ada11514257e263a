import Synchronization

/// The bookkeeping that makes per-account rate limits cluster-wide (the sync strategy of Kong's
/// rate limiting, on GCRA buckets).
///
/// Every node keeps its own buckets and admits requests locally, at memory speed. What it admitted
/// is added to `pending`; every sync interval the node adds its pending units to its own
/// monotonically growing counter per (bucket, subject) in the shared store, reads the other nodes'
/// counters, and `absorb`s the growth since it last looked into its local buckets. A node therefore
/// sees the others' spending at most one interval (plus a round trip) late. A node that starts
/// (or restarts) takes counters older than itself as their baseline: it starts with full buckets.
///
/// Accepted error, per subject and bucket with N nodes, burst B and rate R per ms, sync interval S
/// ms: until the spending of others arrives each node admits from its own view, so the cluster can
/// admit at most (N − 1) · (B + R · S) units more than one node would over the same window; past
/// that window the buckets agree again. Counters reset by the store (pruned after a day of silence)
/// are taken as a new baseline, never as negative spending.
public final class ClusterRateLedger: Sendable {
    public struct Key: Hashable, Sendable {
        public let bucket: String
        public let subject: String

        public init(bucket: String, subject: String) {
            self.bucket = bucket
            self.subject = subject
        }
    }

    /// One node's counter as read from the store.
    public struct Counter: Sendable, Equatable {
        public let key: Key
        public let node: String
        public let total: Int64
        /// When the counter was created (its first unit), ms since the epoch.
        public let createdMs: Int64

        public init(key: Key, node: String, total: Int64, createdMs: Int64) {
            self.key = key
            self.node = node
            self.total = total
            self.createdMs = createdMs
        }
    }

    private struct NodeKey: Hashable {
        let key: Key
        let node: String
    }

    private struct State {
        var pending: [Key: Int64] = [:]
        var seen: [NodeKey: Int64] = [:]
    }

    private let state = Mutex(State())
    /// Remote counters remembered at most (older ones are dropped and re-baselined when seen again).
    public let capacity: Int

    /// Counters created before this are history when first seen; later ones count from zero.
    public let startedMs: Int64

    public init(startedMs: Int64, capacity: Int = 200_000) {
        self.startedMs = startedMs
        self.capacity = capacity
    }

    /// This node admitted `cost` units.
    public func recordLocal(_ key: Key, cost: Int64) {
        guard cost > 0 else { return }
        state.withLock { $0.pending[key, default: 0] += cost }
    }

    /// What this node spent since the last call, to add to its counters in the store.
    public func takePending() -> [Key: Int64] {
        state.withLock { state in
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending
        }
    }

    /// Puts back what could not be written (the store was unreachable), so nothing is lost.
    public func restorePending(_ deltas: [Key: Int64]) {
        state.withLock { state in
            for (key, cost) in deltas { state.pending[key, default: 0] += cost }
        }
    }

    /// The other nodes' counters, as read from the store: returns the spending each key saw since
    /// the last read. A counter seen for the first time counts in full if it was created since this
    /// node started, and is a baseline otherwise (its past is history this node never saw).
    public func remoteSpending(_ counters: [Counter]) -> [Key: Int64] {
        state.withLock { state in
            if state.seen.count > capacity { state.seen.removeAll() }
            var spending: [Key: Int64] = [:]
            for counter in counters {
                let id = NodeKey(key: counter.key, node: counter.node)
                let previous = state.seen[id]
                state.seen[id] = counter.total
                let base = previous ?? (counter.createdMs >= startedMs ? 0 : counter.total)
                guard counter.total > base else { continue }
                spending[counter.key, default: 0] += counter.total - base
            }
            return spending
        }
    }
}
