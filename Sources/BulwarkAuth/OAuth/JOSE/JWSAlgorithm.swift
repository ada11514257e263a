import BulwarkCore
import Crypto
import _CryptoExtras

/// The JWS algorithms Bulwark knows (FAPI 2.0 §5.4: PS256, ES256, EdDSA). There is deliberately no
/// `none` and no HMAC: a symmetric algorithm next to asymmetric keys is the key-confusion attack
/// (RFC 8725 §2.1), so it cannot even be named. Names match exactly (`"none"`, `"None"`, `"es256"`
/// are all unknown).
public enum JWSAlgorithm: String, Sendable, CaseIterable, Hashable {
    case edDSA = "EdDSA"
    case es256 = "ES256"
    case ps256 = "PS256"
}

/// A public key from a trusted source (our own keys, an issuer's JWKS, a DPoP proof's `jwk`),
/// bound to exactly one algorithm (RFC 8725 §3.1).
public enum JWSPublicKey: Sendable {
    case ed25519(Curve25519.Signing.PublicKey)
    case p256(P256.Signing.PublicKey)
    case rsa(_RSA.Signing.PublicKey)

    /// The one algorithm this key verifies.
    public var algorithm: JWSAlgorithm {
        switch self {
        case .ed25519: .edDSA
        case .p256: .es256
        case .rsa: .ps256
        }
    }

    /// Checks `signature` over `signingInput` with this key's own algorithm. The caller has already
    /// checked that the token's `alg` is this algorithm; the key never follows the token's choice.
    public func verifies(_ signature: [UInt8], over signingInput: [UInt8]) -> Bool {
        switch self {
        case .ed25519(let key):
            return signature.count == 64 && key.isValidSignature(signature, for: signingInput)
        case .p256(let key):
            // Raw r‖s (RFC 7515 §A.3), never DER; BoringSSL refuses r = 0 or s = 0 ("psychic signatures").
            guard signature.count == 64, let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(parsed, for: SHA256.hash(data: signingInput))
        case .rsa(let key):
            guard signature.count == key.keySizeInBits / 8 else { return false }
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: signingInput), padding: .PSS)
        }
    }
}

/// A private key the gateway signs with (access tokens): Ed25519 or P-256.
public enum JWSPrivateKey: Sendable {
    case ed25519(Curve25519.Signing.PrivateKey)
    case p256(P256.Signing.PrivateKey)

    public var algorithm: JWSAlgorithm {
        switch self {
        case .ed25519: .edDSA
        case .p256: .es256
        }
    }

    public var publicKey: JWSPublicKey {
        switch self {
        case .ed25519(let key): .ed25519(key.publicKey)
        case .p256(let key): .p256(key.publicKey)
        }
    }

    public func sign(_ signingInput: [UInt8]) throws -> [UInt8] {
        switch self {
        case .ed25519(let key): Array(try key.signature(for: signingInput))
        case .p256(let key): Array(try key.signature(for: signingInput).rawRepresentation)
        }
    }

    /// Raw private bytes (Ed25519 seed, P-256 scalar), for sealing at rest.
    public var rawRepresentation: [UInt8] {
        switch self {
        case .ed25519(let key): Array(key.rawRepresentation)
        case .p256(let key): Array(key.rawRepresentation)
        }
    }

    public init(algorithm: JWSAlgorithm, raw: [UInt8]) throws {
        switch algorithm {
        case .edDSA: self = .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: raw))
        case .es256: self = .p256(try P256.Signing.PrivateKey(rawRepresentation: raw))
        case .ps256: throw JWKError.unsupportedKey
        }
    }

    public static func generate(_ algorithm: JWSAlgorithm) throws -> JWSPrivateKey {
        switch algorithm {
        case .edDSA: .ed25519(Curve25519.Signing.PrivateKey())
        case .es256: .p256(P256.Signing.PrivateKey())
        case .ps256: throw JWKError.unsupportedKey
        }
    }
}
