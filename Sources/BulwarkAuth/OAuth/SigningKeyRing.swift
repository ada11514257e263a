import BulwarkCore
import Synchronization

/// The gateway's token-signing keys: one active key that signs, and the retired ones that stay in
/// the JWKS until every token they signed has expired (rotation with overlap).
public struct SigningKeySet: Sendable {
    public struct Key: Sendable {
        public let kid: String
        public let privateKey: JWSPrivateKey
        public let createdMs: Int64
        public let retiredMs: Int64?

        public init(kid: String, privateKey: JWSPrivateKey, createdMs: Int64, retiredMs: Int64?) {
            self.kid = kid
            self.privateKey = privateKey
            self.createdMs = createdMs
            self.retiredMs = retiredMs
        }
    }

    public let active: Key
    public let published: JWKSet

    /// `keys` must contain exactly one key with no `retiredMs`. Retired keys whose overlap (the
    /// longest token lifetime plus leeway) has passed are not published, so they verify nothing.
    public init?(keys: [Key], overlapMs: Int64, nowMs: Int64) {
        guard let active = keys.last(where: { $0.retiredMs == nil }) else { return nil }
        self.active = active
        let live = keys.filter { key in key.retiredMs.map { $0 + overlapMs > nowMs } ?? true }
        published = JWKSet(keys: live.map { PublicJWK(key: $0.privateKey.publicKey, kid: $0.kid) })
    }
}

/// The current key set, swapped atomically when keys rotate.
public final class SigningKeyRing: Sendable {
    private let current: Mutex<SigningKeySet>

    public init(_ keys: SigningKeySet) { current = Mutex(keys) }

    public var keys: SigningKeySet { current.withLock { $0 } }

    public func replace(_ keys: SigningKeySet) { current.withLock { $0 = keys } }
}
