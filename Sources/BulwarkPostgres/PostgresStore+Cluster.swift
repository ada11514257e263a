import BulwarkCore
import BulwarkStore

/// What only a shared database needs: rate-limit spending exchanged between nodes, and node
/// heartbeats. Every time here is the database's clock, so the nodes' clocks never disagree.
extension PostgresStore: RateCounterExchange, ClusterMembership {
    static let databaseNowMs = "(extract(epoch from clock_timestamp()) * 1000)::bigint"
    /// Counters silent this long are deleted (the longest bucket period is a day).
    static let counterRetentionMs: Int64 = 2 * 86_400_000

    public func exchangeRateCounters(node: String, spending: [ClusterRateLedger.Key: Int64], windowMs: Int64) throws -> [ClusterRateLedger.Counter] {
        try transaction { db in
            for (key, cost) in spending where cost > 0 {
                _ = try db.execute(
                    """
                    INSERT INTO rate_counters (bucket, subject, node_id, total, created_ms, updated_ms)
                    VALUES ($1, $2, $3, $4, \(Self.databaseNowMs), \(Self.databaseNowMs))
                    ON CONFLICT (bucket, subject, node_id) DO UPDATE
                        SET total = rate_counters.total + excluded.total, updated_ms = excluded.updated_ms
                    """,
                    [.text(key.bucket), .text(key.subject), .text(node), .int(cost)])
            }
            return try db.rows(
                """
                SELECT bucket, subject, node_id, total, created_ms FROM rate_counters
                WHERE node_id <> $1 AND updated_ms > \(Self.databaseNowMs) - $2
                """,
                [.text(node), .int(windowMs)]
            ).map { row in
                ClusterRateLedger.Counter(
                    key: .init(bucket: try row.text("bucket"), subject: try row.text("subject")), node: try row.text("node_id"),
                    total: try row.int64("total"), createdMs: try row.int64("created_ms"))
            }
        }
    }

    public func heartbeat(node: String) throws {
        try withConnection { db in
            _ = try db.execute(
                """
                INSERT INTO cluster_nodes (node_id, last_seen_ms) VALUES ($1, \(Self.databaseNowMs))
                ON CONFLICT (node_id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms
                """,
                [.text(node)])
        }
    }

    public func liveNodes(staleAfterMs: Int64) throws -> [String] {
        try withConnection { db in
            try db.rows(
                "SELECT node_id FROM cluster_nodes WHERE last_seen_ms > \(Self.databaseNowMs) - $1 ORDER BY node_id", [.int(staleAfterMs)]
            ).map { try $0.text("node_id") }
        }
    }

    public func endSessionsOfSilentNodes(staleAfterMs: Int64) throws -> Int {
        try withConnection { db in
            // Housekeeping rides along: rate counters nobody has touched for two days.
            _ = try db.execute(
                "DELETE FROM rate_counters WHERE updated_ms < \(Self.databaseNowMs) - $1", [.int(Self.counterRetentionMs)])
            return try db.execute(
                """
                UPDATE sessions SET ended_ms = \(Self.databaseNowMs), end_reason = 'node_lost'
                WHERE ended_ms IS NULL AND node_id <> '' AND node_id NOT IN
                    (SELECT node_id FROM cluster_nodes WHERE last_seen_ms > \(Self.databaseNowMs) - $1)
                """,
                [.int(staleAfterMs)])
        }
    }
}
