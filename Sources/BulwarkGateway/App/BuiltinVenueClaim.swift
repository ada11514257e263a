import BulwarkStore

/// One built-in venue per shared store. Two nodes on one PostgreSQL database, each running its own
/// built-in venue, would each credit every deposit (the same money twice) and keep two separate
/// books; several nodes need one venue process (`--venue grpc://`). The node that runs a built-in
/// venue records itself in the store; another node refuses to start one while that node is alive
/// (heartbeat within `ClusterHeartbeat.staleAfterMs`), and takes over once it is silent.
///
/// Two nodes starting within the same instant can both pass the check; the claim is a guard
/// against a configuration mistake, not a lock.
struct BuiltinVenueClaim {
    let store: any Store
    let membership: any ClusterMembership
    let node: String
    static let settingKey = "venue.builtin_node"

    func claim() throws {
        if let owner = try store.setting(Self.settingKey), owner != node,
            try membership.liveNodes(staleAfterMs: ClusterHeartbeat.staleAfterMs).contains(owner)
        {
            throw BootstrapError(
                "node \(owner) already runs the built-in venue on this database: gateways sharing a database need one venue process (`bulwark venue`, then `serve --venue grpc://HOST:PORT`)")
        }
        try store.setSetting(Self.settingKey, node)
    }
}
