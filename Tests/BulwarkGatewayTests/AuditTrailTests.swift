import BulwarkCore
import BulwarkStore
import Crypto
import Foundation
import Logging
import Testing

@testable import BulwarkGateway

/// The audit trail's writer: a backlog drains in bounded batches, in order, as one chain.
@Suite struct AuditTrailTests {
    func temporaryStore() throws -> SQLiteStore {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path)
    }

    @Test func aBacklogDrainsInBoundedBatchesAndTheChainVerifies() throws {
        let store = try temporaryStore()
        let identity = Curve25519.Signing.PrivateKey()
        let trail = AuditTrail(store: store, identity: identity, clock: ManualClock(nowMs: 1_000), logger: Logger(label: "test"))
        let total = AuditTrail.maxBatch * 2 + 345
        for index in 0..<total { trail.record("test.event", actor: "a_\(index)", outcome: .info) }
        trail.flush()
        let records = try store.auditRecords(afterSeq: 0, limit: total + 10)
        #expect(records.filter { $0.event == "test.event" }.count == total)
        #expect(records.filter { $0.event == "test.event" }.map(\.actor) == (0..<total).map { "a_\($0)" })
        var verifier = AuditChainVerifier(identities: [identity.publicKey])
        var intact = true
        for record in records where !verifier.add(record) { intact = false }
        #expect(intact)
        #expect(verifier.result.problem == nil)
        #expect(trail.isWritable)
    }
}
