import BulwarkCore
import Crypto

/// Decides a signature-grant login (PROTOCOL.md §4.1). Pure apart from the credential lookup
/// and the nonce cache, so every rule is unit-tested with an injected clock.
public struct SignatureLogin: Sendable {
    public struct Granted: Sendable, Equatable {
        public let key: APIKeyRecord
        public let account: AccountRecord
        public let scopes: Set<Scope>
    }

    public let directory: any CredentialDirectory
    public let nonces: NonceCache
    /// Accepted clock difference in either direction (default 5000 ms, at most 60000).
    public let recvWindowMs: Int64
    /// Legacy HMAC keys log in only when the operator enabled them, with their secrets opened by the
    /// master key (read when needed, so a master-key rotation needs no restart).
    public let hmac: HMACPolicy

    public struct HMACPolicy: Sendable {
        public let enabled: Bool
        public let secretBox: @Sendable () -> SecretBox?

        public init(enabled: Bool, secretBox: @escaping @Sendable () -> SecretBox?) {
            self.enabled = enabled
            self.secretBox = secretBox
        }

        public static let disabled = HMACPolicy(enabled: false, secretBox: { nil })
    }

    public static let maxRecvWindowMs: Int64 = 60_000

    public init(directory: any CredentialDirectory, nonces: NonceCache, recvWindowMs: Int64 = 5000, hmac: HMACPolicy = .disabled) {
        self.directory = directory
        self.nonces = nonces
        self.recvWindowMs = min(max(recvWindowMs, 0), Self.maxRecvWindowMs)
        self.hmac = hmac
    }

    /// Verifies `grant` against the connection's current `challenge`.
    ///
    /// Order matters: the timestamp is checked first because its failure is the one that may be
    /// revealed (`timestamp_out_of_window` with `skew_ms`); then the signature is always verified,
    /// against a throw-away key when the key id is unknown, so the response time does not say
    /// whether the key exists; the nonce is recorded only for a valid signature, so an attacker
    /// cannot burn a victim's nonces. Every other failure is the same `auth_failed`.
    /// The answer while the credential store cannot be read.
    public static let storeUnavailable = RPCError(.internalError, reason: "store_unavailable")

    public func verify(
        _ grant: SignatureGrant, challenge: String, clientIP: String = "", clientCertificateSHA256: String? = nil, nowMs: Int64
    ) -> Result<Granted, RPCError> {
        let skew = grant.timestampMs - nowMs
        guard abs(skew) <= recvWindowMs else {
            return .failure(RPCError(.timestampOutOfWindow, skewMs: skew))
        }
        let key: APIKeyRecord?
        do {
            key = try directory.apiKey(id: grant.keyID)
        } catch {
            // The store is down (a cluster's PostgreSQL unreachable): fail closed, say so, and do
            // not count it against the key. It reveals nothing about this key id.
            return .failure(Self.storeUnavailable)
        }
        let message = grant.signingString(challenge: challenge).bytes
        let signatureValid: Bool
        if let key, key.algorithm == .hmacSHA256 {
            signatureValid = verifyHMAC(grant.signature, message: message, key: key)
        } else if let key {
            signatureValid = SignatureVerifier.isValid(
                signature: grant.signature, message: message, algorithm: key.algorithm, publicKey: key.publicKey)
        } else {
            _ = SignatureVerifier.isValid(
                signature: grant.signature, message: message, algorithm: .ed25519,
                publicKey: Self.decoyPublicKey)
            signatureValid = false
        }
        guard let key, signatureValid else { return .failure(RPCError(.authFailed)) }

        switch nonces.record(keyID: key.id, nonce: grant.nonce, nowMs: nowMs, expiresAtMs: nowMs + 2 * recvWindowMs + 1) {
        case .fresh: break
        case .replayed: return .failure(RPCError(.replayDetected, field: "params.nonce"))
        case .full: return .failure(RPCError(.authFailed))
        }

        // A key pinned to a client certificate works only over a connection made with that
        // certificate (a second factor for machines).
        if let pin = key.clientCertificatePin {
            guard let presented = clientCertificateSHA256, ConstantTime.equals(Array(pin.utf8), Array(presented.utf8)) else {
                return .failure(RPCError(.authFailed))
            }
        }

        guard key.restrictions.allows(ip: clientIP) else { return .failure(RPCError(.authFailed)) }

        let account: AccountRecord?
        do {
            account = try directory.account(id: key.accountID)
        } catch {
            return .failure(Self.storeUnavailable)
        }
        guard key.isUsable(atMs: nowMs), let account, account.status == .enabled else { return .failure(RPCError(.authFailed)) }

        let requested: Set<Scope>
        if let names = grant.scopes {
            var parsed = Set<Scope>()
            for name in names {
                guard let scope = Scope(rawValue: name) else { return .failure(RPCError(.authFailed)) }
                parsed.insert(scope)
            }
            requested = parsed
        } else {
            requested = key.scopes
        }
        guard requested.isSubset(of: key.scopes) else { return .failure(RPCError(.authFailed)) }
        return .success(Granted(key: key, account: account, scopes: requested))
    }

    private func verifyHMAC(_ signature: [UInt8], message: [UInt8], key: APIKeyRecord) -> Bool {
        guard hmac.enabled, signature.count == 32, let sealed = key.sealedSecret, let box = hmac.secretBox(),
            let secret = try? box.open(sealed, boundTo: key.id)
        else { return false }
        let expected = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret))
        return ConstantTime.equals(Array(expected), signature)
    }

    /// A valid Ed25519 public key whose private key is discarded at start, used to spend the same
    /// work on unknown key ids as on known ones.
    static let decoyPublicKey: [UInt8] = Array(
        Curve25519.Signing.PrivateKey().publicKey.rawRepresentation)
}
