import BulwarkCore
import Crypto
import Testing

@Suite struct AuditChainTests {
    let identity = Curve25519.Signing.PrivateKey()

    /// Builds a chain of `count` mixed records with a signed checkpoint every 1000.
    func chain(_ count: Int) throws -> [AuditRecord] {
        var records: [AuditRecord] = []
        var previous = AuditRecord.genesisHash
        let events = ["auth.login", "session.started", "order.open", "order.fill", "admin.key.revoke", "security.brute_force"]
        for seq in Int64(1)...Int64(count) {
            var details = ["i": String(seq), "note": "line\nbreak \u{1B}[31m"]
            var event = events[Int(seq) % events.count]
            if seq % 1000 == 0, let last = records.last {
                event = AuditCheckpoint.event
                let signature = try identity.signature(for: AuditCheckpoint.message(seq: last.seq, hash: last.hash))
                details = ["checkpoint_seq": String(last.seq), "checkpoint_hash": last.hash, "signature": Base64URL.encode(signature)]
            }
            let record = AuditRecord(
                seq: seq, timeUs: 1_700_000_000_000_000 + seq, event: event, actor: "a_\(seq % 7)", credentialID: "k_1", sessionHash: "abc",
                clientIP: "203.0.113.9", outcome: seq % 3 == 0 ? .failure : .success, details: details, previousHash: previous)
            previous = record.hash
            records.append(record)
        }
        return records
    }

    func verify(_ records: [AuditRecord], identities: [Curve25519.Signing.PublicKey]? = nil) -> AuditChainVerifier.Summary {
        var verifier = AuditChainVerifier(identities: identities ?? [identity.publicKey])
        for record in records where !verifier.add(record) { break }
        return verifier.result
    }

    func replacing(_ record: AuditRecord, details: [String: String]? = nil, actor: String? = nil) -> AuditRecord {
        AuditRecord(
            seq: record.seq, timeUs: record.timeUs, event: record.event, actor: actor ?? record.actor, credentialID: record.credentialID,
            sessionHash: record.sessionHash, clientIP: record.clientIP, outcome: record.outcome, details: details ?? record.details,
            previousHash: record.previousHash, hash: record.hash)
    }

    @Test func tenThousandMixedEventsVerify() throws {
        let records = try chain(10_000)
        let summary = verify(records)
        #expect(summary.problem == nil && summary.records == 10_000 && summary.checkpoints == 10)
        #expect(summary.lastHash == records.last!.hash)
    }

    @Test func anAlteredRecordIsNamed() throws {
        var records = try chain(3000)
        records[1233] = replacing(records[1233], actor: "a_someone_else")
        #expect(verify(records).problem == .hashMismatch(seq: 1234))
    }

    @Test func aRecordRewrittenWithAFreshHashBreaksTheNextLink() throws {
        var records = try chain(50)
        let forged = records[9]
        records[9] = AuditRecord(
            seq: forged.seq, timeUs: forged.timeUs, event: forged.event, actor: "forger", credentialID: nil, sessionHash: nil, clientIP: nil,
            outcome: .success, details: [:], previousHash: forged.previousHash)
        #expect(verify(records).problem == .brokenLink(seq: 11))
    }

    @Test func aDeletedRecordIsNamed() throws {
        var records = try chain(100)
        records.remove(at: 41)
        #expect(verify(records).problem == .sequenceGap(expected: 42, found: 43))
    }

    @Test func aReorderedPairIsNamed() throws {
        var records = try chain(100)
        records.swapAt(20, 21)
        #expect(verify(records).problem == .sequenceGap(expected: 21, found: 22))
    }

    @Test func aRenumberedReorderIsCaughtByTheLinks() throws {
        var records = try chain(100)
        let (a, b) = (records[20], records[21])
        // Swap the contents but keep the positions' numbers and hashes: the hashes no longer match.
        records[20] = AuditRecord(
            seq: a.seq, timeUs: b.timeUs, event: b.event, actor: b.actor, credentialID: b.credentialID, sessionHash: b.sessionHash,
            clientIP: b.clientIP, outcome: b.outcome, details: b.details, previousHash: a.previousHash, hash: a.hash)
        #expect(verify(records).problem == .hashMismatch(seq: 21))
    }

    @Test func aChainRebuiltWithoutTheIdentityKeyFailsAtItsFirstCheckpoint() throws {
        let records = try chain(1500)
        let stranger = Curve25519.Signing.PrivateKey()
        #expect(verify(records, identities: [stranger.publicKey]).problem == .badCheckpointSignature(seq: 1000))
        // A retired identity is accepted next to the current one.
        #expect(verify(records, identities: [stranger.publicKey, identity.publicKey]).problem == nil)
    }

    @Test func controlCharactersAreEscapedInTheCanonicalForm() throws {
        let record = try chain(1)[0]
        let text = String(decoding: record.canonicalJSON, as: UTF8.self)
        #expect(!text.contains("\n") && !text.contains("\u{1B}"))
        #expect(text.contains("\\n") && text.contains("\\u001b"))
        #expect(record.exportJSON.hasSuffix("\"hash\":\"\(record.hash)\"}"))
    }
}

@Suite struct DetectionRuleTests {
    @Test func credentialStuffingNeedsDistinctKeysFromOneAddress() {
        var rules = DetectionRules()
        // One key failing repeatedly is brute force, not stuffing.
        for i in 0..<20 { #expect(rules.credentialStuffing.observe(subject: "198.51.100.7", value: "k_same", atMs: Int64(i)) == nil) }
        var fired: [SecurityEvent] = []
        for i in 0..<10 {
            if let event = rules.credentialStuffing.observe(subject: "198.51.100.8", value: "k_\(i)", atMs: 1000 + Int64(i)) { fired.append(event) }
        }
        #expect(fired.count == 1 && fired[0].rule == "credential_stuffing" && fired[0].details["count"] == "10")
        // Quiet for the rest of the window, then it can fire again.
        #expect(rules.credentialStuffing.observe(subject: "198.51.100.8", value: "k_x", atMs: 2000) == nil)
    }

    @Test func observationsOutsideTheWindowDoNotCount() {
        var rules = DetectionRules()
        for i in 0..<9 { #expect(rules.bruteForce.observe(subject: "k_1", atMs: Int64(i) * 100_000) == nil) }
        // Nine failures spread over 15 minutes: never ten within five.
        #expect(rules.bruteForce.observe(subject: "k_1", atMs: 900_000) == nil)
        var burst = DetectionRules()
        var fired = 0
        for i in 0..<10 where burst.bruteForce.observe(subject: "k_1", atMs: Int64(i)) != nil { fired += 1 }
        #expect(fired == 1)
    }

    @Test func eachRuleFiresOnItsScenarioAndNotOnNormalTraffic() {
        var rules = DetectionRules()
        // Normal: a client reconnecting now and then, one replay by a buggy client, one bad Origin.
        #expect(rules.replayAttempts.observe(subject: "ip", atMs: 0) == nil)
        #expect(rules.originFailures.observe(subject: "ip", atMs: 0) == nil)
        #expect((0..<100).allSatisfy { rules.connectionSurge.observe(subject: "*", atMs: Int64($0) * 20) == nil })
        // Attacks.
        #expect((1...2).compactMap { rules.replayAttempts.observe(subject: "ip", atMs: Int64($0)) }.count == 1)
        #expect((1...4).compactMap { rules.originFailures.observe(subject: "ip", atMs: Int64($0)) }.count == 1)
        #expect((0..<500).compactMap { rules.connectionSurge.observe(subject: "*", atMs: 10_000 + Int64($0)) }.count == 1)
        #expect((0..<3).compactMap { rules.sealedFrameViolations.observe(subject: "ip", atMs: Int64($0)) }.count == 1)
    }

    @Test func memoryIsBoundedPerSubjectAndInSubjects() {
        var rule = ThresholdRule(name: "t", severity: .low, threshold: 3, windowMs: 1_000_000)
        for i in 0..<(ThresholdRule.maxSubjects + 100) { _ = rule.observe(subject: "s\(i)", atMs: Int64(i)) }
        // Evicting the oldest subjects keeps the table bounded and the newest still counted.
        #expect(rule.observe(subject: "s\(ThresholdRule.maxSubjects + 99)", atMs: 10) == nil)
    }
}
