import BulwarkCore
import BulwarkStore
import Crypto
import Logging
import Synchronization

/// The gateway's writer of the hash-chained audit log.
///
/// `record` never blocks a request: entries queue in memory and a background task appends them in
/// batches every `flushIntervalMs`, each batch in one transaction. Every `checkpointEvery` records or `checkpointIntervalMs`, it appends a checkpoint
/// signed with the gateway identity. On shutdown `flush()` writes what is queued.
final class AuditTrail: Sendable {
    private struct State {
        var queue: [AuditEntry] = []
        var sinceCheckpoint = 0
        var lastCheckpointMs: Int64 = 0
    }

    private let store: any Store
    private let identity: Curve25519.Signing.PrivateKey
    private let clock: any WallClock
    private let logger: Logger
    private let state = Mutex(State())

    static let flushIntervalMs: Int64 = 100
    static let checkpointEvery = 1000
    static let checkpointIntervalMs: Int64 = 60_000
    /// Queued entries beyond this are dropped (and counted) rather than exhausting memory if the
    /// disk stalls; the drop itself is logged as an alert.
    static let maxQueued = 100_000
    let dropped = Atomic<Int>(0)
    /// False from a failed append until the next one succeeds. Order entry fails closed meanwhile
    /// (`trading_halted`, reason `audit_unavailable`): no order is accepted that the trail cannot
    /// record, for example when the disk is full (ASVS 16.5.3). Cancels and reads still work.
    private let writable = Atomic<Bool>(true)
    var isWritable: Bool { writable.load(ordering: .relaxed) }

    init(store: any Store, identity: Curve25519.Signing.PrivateKey, clock: any WallClock, logger: Logger) {
        self.store = store
        self.identity = identity
        self.clock = clock
        self.logger = logger
        state.withLock { $0.lastCheckpointMs = clock.nowMs() }
    }

    /// Queues one event. `details` must hold no secrets: ids, codes and reasons only.
    func record(
        _ event: String, actor: String, credentialID: String? = nil, sessionID: String? = nil, clientIP: String? = nil,
        outcome: AuditRecord.Outcome, details: [String: String] = [:]
    ) {
        let entry = AuditEntry(
            timeUs: clock.nowUs(), event: event, actor: actor, credentialID: credentialID, sessionHash: sessionID.map(SessionHash.of),
            clientIP: clientIP, outcome: outcome, details: details)
        let accepted = state.withLock { state -> Bool in
            guard state.queue.count < Self.maxQueued else { return false }
            state.queue.append(entry)
            return true
        }
        if !accepted, dropped.add(1, ordering: .relaxed).newValue == 1 {
            logger.critical("ALERT: audit queue full, events are being dropped")
        }
    }

    /// How many records wait, and how old the oldest is (metrics).
    func queueState(nowUs: Int64) -> (count: Int, lagMs: Int) {
        state.withLock { state in (state.queue.count, state.queue.first.map { Int((nowUs - $0.timeUs) / 1000) } ?? 0) }
    }

    /// Runs until cancelled: appends queued entries every `flushIntervalMs`, and checkpoints.
    func run() async {
        while !Task.isCancelled {
            flush()
            try? await Task.sleep(for: .milliseconds(Self.flushIntervalMs))
        }
        flush()
    }

    /// Records per append transaction: a backlog (after a burst, or an outage of the store) drains
    /// in transactions that each fit the store's call deadline, instead of one that never does.
    static let maxBatch = 2_000

    /// Appends everything queued now, in batches of at most `maxBatch` (and a checkpoint when one
    /// is due). Stops at the first failure, keeping the rest queued in order.
    func flush() {
        while flushBatch() {}
    }

    /// One batch; true when it was full and more may be queued.
    private func flushBatch() -> Bool {
        let batch = state.withLock { state -> [AuditEntry] in
            let count = min(state.queue.count, Self.maxBatch)
            defer { state.queue.removeFirst(count) }
            return Array(state.queue.prefix(count))
        }
        if !batch.isEmpty {
            do {
                try store.appendAudit(batch)
                if !writable.load(ordering: .relaxed) {
                    writable.store(true, ordering: .relaxed)
                    logger.warning("audit appends succeed again; order entry resumes")
                }
            } catch {
                if writable.exchange(false, ordering: .relaxed) {
                    logger.critical("ALERT: audit append failed; order entry halted until it succeeds", metadata: ["error": "\(error)", "entries": "\(batch.count)"])
                }
                // Keep them for the next attempt: an audit record is never silently lost.
                state.withLock { $0.queue.insert(contentsOf: batch, at: 0) }
                return false
            }
        }
        let now = clock.nowMs()
        let due = state.withLock { state -> Bool in
            state.sinceCheckpoint += batch.count
            guard state.sinceCheckpoint > 0,
                state.sinceCheckpoint >= Self.checkpointEvery || now - state.lastCheckpointMs >= Self.checkpointIntervalMs
            else { return false }
            state.sinceCheckpoint = 0
            state.lastCheckpointMs = now
            return true
        }
        if due { checkpoint() }
        return batch.count == Self.maxBatch
    }

    /// Signs the chain's current tail and appends the signature as a record of its own.
    func checkpoint() {
        do {
            let tail = try store.auditTail()
            guard tail.seq > 0 else { return }
            let signature = try identity.signature(for: AuditCheckpoint.message(seq: tail.seq, hash: tail.hash))
            try store.appendAudit([
                AuditEntry(
                    timeUs: clock.nowUs(), event: AuditCheckpoint.event, actor: "system", outcome: .info,
                    details: [
                        "checkpoint_seq": String(tail.seq), "checkpoint_hash": tail.hash, "signature": Base64URL.encode(signature),
                        "identity": Base64URL.encode(identity.publicKey.rawRepresentation),
                    ])
            ])
        } catch {
            logger.error("audit checkpoint failed", metadata: ["error": "\(error)"])
        }
    }
}
