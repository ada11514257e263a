import Crypto

/// One security-relevant event in the append-only audit log.
///
/// Never holds a raw token, secret, TOTP code, session id or message body: sessions appear as a
/// short hash, credentials by id. Every string is written through `JSONWriter`, which escapes
/// control characters (newlines, ANSI escapes), so a hostile value cannot forge a log line.
public struct AuditRecord: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        case success
        case failure
        case info
    }

    /// Position in the chain, from 1.
    public let seq: Int64
    /// UTC time in microseconds.
    public let timeUs: Int64
    /// What happened, e.g. `auth.login`, `session.revoked`, `order.placed`, `admin.key.revoke`.
    public let event: String
    /// Who acted: an account id, `operator:<certificate fingerprint>`, `cli`, or `system`.
    public let actor: String
    public let credentialID: String?
    public let sessionHash: String?
    public let clientIP: String?
    public let outcome: Outcome
    /// Small, non-secret details (ids, reasons, codes), sorted by key in the canonical form.
    public let details: [String: String]
    /// SHA-256 (hex) of the previous record's canonical form; 64 zeros for the first record.
    public let previousHash: String
    /// SHA-256 (hex) of this record's canonical form (which includes `previousHash`).
    public let hash: String

    public static let genesisHash = String(repeating: "0", count: 64)

    public init(
        seq: Int64, timeUs: Int64, event: String, actor: String, credentialID: String?, sessionHash: String?, clientIP: String?,
        outcome: Outcome, details: [String: String], previousHash: String, hash: String? = nil
    ) {
        self.seq = seq
        self.timeUs = timeUs
        self.event = event
        self.actor = actor
        self.credentialID = credentialID
        self.sessionHash = sessionHash
        self.clientIP = clientIP
        self.outcome = outcome
        self.details = details
        self.previousHash = previousHash
        self.hash = hash ?? Self.computeHash(
            seq: seq, timeUs: timeUs, event: event, actor: actor, credentialID: credentialID, sessionHash: sessionHash,
            clientIP: clientIP, outcome: outcome, details: details, previousHash: previousHash)
    }

    /// The canonical form that is hashed: compact JSON with members in a fixed order, details
    /// sorted by key, and `prev` included, so changing, removing or reordering any record breaks
    /// every hash after it.
    public var canonicalJSON: [UInt8] {
        Self.canonical(
            seq: seq, timeUs: timeUs, event: event, actor: actor, credentialID: credentialID, sessionHash: sessionHash,
            clientIP: clientIP, outcome: outcome, details: details, previousHash: previousHash, hash: nil)
    }

    /// The export form (JSON lines for a SIEM): the canonical members plus `hash`.
    public var exportJSON: String {
        String(
            decoding: Self.canonical(
                seq: seq, timeUs: timeUs, event: event, actor: actor, credentialID: credentialID, sessionHash: sessionHash,
                clientIP: clientIP, outcome: outcome, details: details, previousHash: previousHash, hash: hash),
            as: UTF8.self)
    }

    static func computeHash(
        seq: Int64, timeUs: Int64, event: String, actor: String, credentialID: String?, sessionHash: String?, clientIP: String?,
        outcome: Outcome, details: [String: String], previousHash: String
    ) -> String {
        let bytes = canonical(
            seq: seq, timeUs: timeUs, event: event, actor: actor, credentialID: credentialID, sessionHash: sessionHash,
            clientIP: clientIP, outcome: outcome, details: details, previousHash: previousHash, hash: nil)
        return hex(Array(SHA256.hash(data: bytes)))
    }

    private static func canonical(
        seq: Int64, timeUs: Int64, event: String, actor: String, credentialID: String?, sessionHash: String?, clientIP: String?,
        outcome: Outcome, details: [String: String], previousHash: String, hash: String?
    ) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("seq")
        w.int(seq)
        w.key("ts_us")
        w.int(timeUs)
        w.key("event")
        w.string(event)
        w.key("actor")
        w.string(actor)
        for (key, value) in [("credential", credentialID), ("session_hash", sessionHash), ("ip", clientIP)] {
            w.key(key)
            if let value { w.string(value) } else { w.null() }
        }
        w.key("outcome")
        w.string(outcome.rawValue)
        w.key("details")
        w.beginObject()
        for key in details.keys.sorted() {
            w.key(key)
            w.string(details[key]!)
        }
        w.endObject()
        w.key("prev")
        w.string(previousHash)
        if let hash {
            w.key("hash")
            w.string(hash)
        }
        w.endObject()
        return w.bytes
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A signed checkpoint: the gateway identity's Ed25519 signature over a record's position and
/// hash, every N records or T seconds, so a rewrite of the whole chain (new hashes throughout) by
/// someone without the identity key is still detected.
public enum AuditCheckpoint {
    public static let event = "audit.checkpoint"

    /// `BULWARK-AUDIT-1\n<seq>\n<hash>` of the record being vouched for.
    public static func message(seq: Int64, hash: String) -> [UInt8] {
        Array("BULWARK-AUDIT-1\n\(seq)\n\(hash)".utf8)
    }
}

/// Checks an audit chain offline: each record's hash, each link to the previous record, the
/// sequence numbers, and every checkpoint's signature.
public struct AuditChainVerifier {
    public enum Problem: Sendable, Equatable, CustomStringConvertible {
        case hashMismatch(seq: Int64)
        case brokenLink(seq: Int64)
        case sequenceGap(expected: Int64, found: Int64)
        case badCheckpointSignature(seq: Int64)
        case checkpointPointsElsewhere(seq: Int64)

        public var description: String {
            switch self {
            case .hashMismatch(let seq): "record \(seq): its contents do not match its hash (altered)"
            case .brokenLink(let seq): "record \(seq): its previous-hash does not match record \(seq - 1) (a record was removed, inserted or reordered)"
            case .sequenceGap(let expected, let found): "record \(expected) is missing (found \(found) next)"
            case .badCheckpointSignature(let seq): "checkpoint \(seq): the signature does not verify with the gateway identity"
            case .checkpointPointsElsewhere(let seq): "checkpoint \(seq): it vouches for a record whose hash differs"
            }
        }

        public var seq: Int64 {
            switch self {
            case .hashMismatch(let seq), .brokenLink(let seq), .badCheckpointSignature(let seq), .checkpointPointsElsewhere(let seq): seq
            case .sequenceGap(let expected, _): expected
            }
        }
    }

    public struct Summary: Sendable, Equatable {
        public var records = 0
        public var checkpoints = 0
        public var lastHash = AuditRecord.genesisHash
        public var problem: Problem?
    }

    /// Gateway identities whose checkpoint signatures are accepted (the current one and any
    /// retired by an emergency rotation).
    private let identities: [Curve25519.Signing.PublicKey]
    private var summary = Summary()
    private var expectedSeq: Int64 = 1
    /// Hashes of recent records, for checkpoints that vouch for an earlier record.
    private var recentHashes: [Int64: String] = [:]

    public init(identities: [Curve25519.Signing.PublicKey]) { self.identities = identities }

    /// Feeds the next record (in `seq` order); returns false once a problem is found.
    public mutating func add(_ record: AuditRecord) -> Bool {
        guard summary.problem == nil else { return false }
        func fail(_ problem: Problem) -> Bool {
            summary.problem = problem
            return false
        }
        guard record.seq == expectedSeq else { return fail(.sequenceGap(expected: expectedSeq, found: record.seq)) }
        let recomputed = AuditRecord.computeHash(
            seq: record.seq, timeUs: record.timeUs, event: record.event, actor: record.actor, credentialID: record.credentialID,
            sessionHash: record.sessionHash, clientIP: record.clientIP, outcome: record.outcome, details: record.details,
            previousHash: record.previousHash)
        guard recomputed == record.hash else { return fail(.hashMismatch(seq: record.seq)) }
        guard record.previousHash == summary.lastHash else { return fail(.brokenLink(seq: record.seq)) }
        if record.event == AuditCheckpoint.event {
            guard let target = record.details["checkpoint_seq"].flatMap(Int64.init), let targetHash = record.details["checkpoint_hash"],
                let signature = record.details["signature"].flatMap(Base64URL.decode),
                identities.contains(where: { $0.isValidSignature(signature, for: AuditCheckpoint.message(seq: target, hash: targetHash)) })
            else { return fail(.badCheckpointSignature(seq: record.seq)) }
            if let known = recentHashes[target], known != targetHash { return fail(.checkpointPointsElsewhere(seq: record.seq)) }
            summary.checkpoints += 1
        }
        recentHashes[record.seq] = record.hash
        if recentHashes.count > 100_000 { recentHashes.removeAll(keepingCapacity: true) }
        summary.records += 1
        summary.lastHash = record.hash
        expectedSeq += 1
        return true
    }

    public var result: Summary { summary }
}
