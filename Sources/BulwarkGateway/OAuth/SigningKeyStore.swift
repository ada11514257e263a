import BulwarkAuth
import BulwarkCore
import BulwarkStore

/// Token-signing keys at rest: generated here, private halves sealed with the master key (bound to
/// their kid), rotated by age or on demand (`bulwark oauth keys rotate`).
public struct SigningKeyStore: Sendable {
    let store: any Store
    let box: SecretBox

    public init(store: any Store, box: SecretBox) {
        self.store = store
        self.box = box
    }

    /// Creates the first key, or a new one when the active key is older than `rotateAfterMs`
    /// (0: never). Returns the kid of a key created now, if any.
    @discardableResult
    public func ensureActiveKey(algorithm: JWSAlgorithm, rotateAfterMs: Int64, nowMs: Int64) throws -> String? {
        let records = try store.signingKeys()
        if let active = records.last(where: { $0.retiredMs == nil }) {
            guard rotateAfterMs > 0, nowMs - active.createdMs >= rotateAfterMs else { return nil }
        }
        return try rotate(algorithm: algorithm, nowMs: nowMs)
    }

    /// A new active key; the previous one is retired but stays published through the overlap.
    public func rotate(algorithm: JWSAlgorithm, nowMs: Int64) throws -> String {
        let key = try JWSPrivateKey.generate(algorithm)
        let kid = Identifier.random(prefix: "sk", bytes: 12)
        let sealed = try box.seal(key.rawRepresentation, boundTo: SealedSecretBinding.signingKey(kid: kid))
        try store.rotateSigningKey(SigningKeyRecord(kid: kid, algorithm: algorithm.rawValue, sealedPrivateKey: sealed, createdMs: nowMs, retiredMs: nil))
        return kid
    }

    public func load(overlapMs: Int64, nowMs: Int64) throws -> SigningKeySet {
        try store.pruneSigningKeys(retiredBeforeMs: nowMs - overlapMs - 86_400_000)
        let keys = try store.signingKeys().compactMap { record -> SigningKeySet.Key? in
            guard let algorithm = JWSAlgorithm(rawValue: record.algorithm) else { return nil }
            let raw = try box.open(record.sealedPrivateKey, boundTo: SealedSecretBinding.signingKey(kid: record.kid))
            return SigningKeySet.Key(
                kid: record.kid, privateKey: try JWSPrivateKey(algorithm: algorithm, raw: raw), createdMs: record.createdMs, retiredMs: record.retiredMs)
        }
        guard let set = SigningKeySet(keys: keys, overlapMs: overlapMs, nowMs: nowMs) else { throw BootstrapError("no active token-signing key") }
        return set
    }
}
