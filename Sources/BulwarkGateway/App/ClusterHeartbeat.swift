import BulwarkStore
import Logging

/// Tells the other nodes this one is alive, and ends the sessions of nodes that stopped saying so
/// (killed without closing them): their sockets are gone, their clients reconnect elsewhere.
struct ClusterHeartbeat: Sendable {
    let membership: any ClusterMembership
    let node: String
    let logger: Logger
    static let interval = Duration.seconds(2)
    /// Several missed heartbeats, so a node stalled for a moment (a slow disk, a busy machine) is
    /// not declared dead by one late beat.
    static let staleAfterMs: Int64 = 15_000

    func run() async {
        var beats = 0
        while !Task.isCancelled {
            do {
                try membership.heartbeat(node: node)
                if beats % 5 == 0 {
                    let ended = try membership.endSessionsOfSilentNodes(staleAfterMs: Self.staleAfterMs)
                    if ended > 0 { logger.notice("ended sessions of silent gateway nodes", metadata: ["sessions": "\(ended)"]) }
                }
            } catch {
                logger.warning("cluster heartbeat failed", metadata: ["error": "\(error)"])
            }
            beats += 1
            try? await Task.sleep(for: Self.interval)
        }
    }
}
