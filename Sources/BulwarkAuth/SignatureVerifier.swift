import BulwarkCore
import Crypto

/// Verifies a login signature with a key's registered public key, by the key's own algorithm.
///
/// The algorithm always comes from the key record, never from the request, so a client cannot
/// pick a weaker verification path (the JWT `alg` confusion, transposed to API keys).
public enum SignatureVerifier {
    public static func isValid(
        signature: [UInt8], message: [UInt8], algorithm: KeyAlgorithm, publicKey: [UInt8]
    ) -> Bool {
        switch algorithm {
        case .ed25519:
            guard signature.count == 64,
                let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey)
            else { return false }
            return key.isValidSignature(signature, for: message)
        case .es256:
            guard signature.count == 64,
                let key = try? P256.Signing.PublicKey(x963Representation: publicKey),
                let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return key.isValidSignature(parsed, for: message)
        case .mlDSA65:
            guard let key = try? MLDSA65.PublicKey(rawRepresentation: publicKey) else { return false }
            return key.isValidSignature(signature, for: message)
        case .hmacSHA256:
            // Legacy HMAC keys need an encrypted secret store; they are refused until that exists.
            return false
        }
    }

    /// Checks that raw public-key bytes are a well-formed key of `algorithm`, at registration time.
    public static func isWellFormedPublicKey(_ bytes: [UInt8], algorithm: KeyAlgorithm) -> Bool {
        guard let length = algorithm.publicKeyLength, bytes.count == length else { return false }
        switch algorithm {
        case .ed25519: return (try? Curve25519.Signing.PublicKey(rawRepresentation: bytes)) != nil
        case .es256: return (try? P256.Signing.PublicKey(x963Representation: bytes)) != nil
        case .mlDSA65: return (try? MLDSA65.PublicKey(rawRepresentation: bytes)) != nil
        case .hmacSHA256: return false
        }
    }
}
