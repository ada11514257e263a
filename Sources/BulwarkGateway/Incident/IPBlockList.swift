import BulwarkCore
import BulwarkStore
import Synchronization

/// The networks refused at the door (403 before the upgrade, PROTOCOL.md §3.1), with expiry.
/// Loaded from the store at start and whenever an operator (or a detection rule) changes it.
final class IPBlockList: Sendable {
    private let blocks = Mutex<[IPBlockRecord]>([])
    private let store: any Store
    private let clock: any WallClock

    init(store: any Store, clock: any WallClock) {
        self.store = store
        self.clock = clock
    }

    func reload() throws {
        let active = try store.ipBlocks(activeAtMs: clock.nowMs())
        blocks.withLock { $0 = active }
    }

    /// The active block covering `ip`, if any.
    func block(for ip: String) -> IPBlockRecord? {
        let now = clock.nowMs()
        return blocks.withLock { blocks in blocks.first { $0.isActive(atMs: now) && $0.network.contains(ip) } }
    }

    func isBlocked(_ ip: String) -> Bool { block(for: ip) != nil }

    /// Blocks a network (an operator, or an automatic response) and applies it at once.
    @discardableResult
    func add(_ network: IPNetwork, reason: String, by actor: String, forMs: Int64?) throws -> IPBlockRecord {
        let now = clock.nowMs()
        let record = try store.addIPBlock(network, reason: reason, by: actor, nowMs: now, expiresMs: forMs.map { now + $0 })
        try reload()
        return record
    }
}
