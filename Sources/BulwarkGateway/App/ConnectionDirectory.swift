import Synchronization

/// The node's live connections, for shutdown broadcast and counting.
final class ConnectionDirectory: Sendable {
    private let connections = Mutex<[String: Connection]>([:])

    func add(_ connection: Connection) { connections.withLock { $0[connection.id] = connection } }
    func remove(_ id: String) { connections.withLock { _ = $0.removeValue(forKey: id) } }
    var all: [Connection] { connections.withLock { Array($0.values) } }
    var count: Int { connections.withLock { $0.count } }
}

extension ConnectionDirectory {
    /// Closes every live connection whose address is now blocked (1008, reason `blocked`).
    func closeBlocked(_ blocks: IPBlockList) {
        for connection in all where blocks.isBlocked(connection.clientIP) {
            connection.outbound.close(.policyViolation, reason: "blocked")
        }
    }
}
