import BulwarkCore
import Crypto
import Foundation

/// Test vectors for the signature grant (docs/vectors/signature-grant.json), produced by this code
/// so client authors can check their signing string and signature byte for byte.
///
/// Ed25519 signatures are deterministic, so that vector is regenerated and compared exactly in the
/// tests; ECDSA signatures are randomized, so the ES256 vector is checked by verification only.
public enum SignatureTestVectors {
    public struct Vector: Sendable, Equatable {
        public let keyType: KeyAlgorithm
        /// Ed25519: the 32-byte seed; P-256: the 32-byte scalar; ML-DSA-65: the 32-byte seed ξ. Hex, for test use only.
        public let privateKeyHex: String
        public let publicKey: String
        public let keyID: String
        public let challenge: String
        public let timestampMs: Int64
        public let nonce: String
        public let scopes: [String]
        public let signingString: String
        public let signature: String
    }

    static let keyID = "k_TESTVECTOR0000"
    static let challenge = Base64URL.encode((0..<32).map { UInt8($0) })
    static let timestampMs: Int64 = 1_732_300_000_000
    static let nonce = Base64URL.encode((0..<16).map { UInt8(0xA0 + $0) })
    static let scopes = ["trade", "read"]
    static let seed: [UInt8] = (1...32).map { UInt8($0) }

    private static func text() -> SigningString {
        SigningString(keyID: keyID, challenge: challenge, timestampMs: timestampMs, nonce: nonce, scopes: scopes, keyExchangeHash: nil)
    }

    public static func ed25519() throws -> Vector {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        let message = text()
        return Vector(
            keyType: .ed25519, privateKeyHex: hex(seed), publicKey: Base64URL.encode(key.publicKey.rawRepresentation),
            keyID: keyID, challenge: challenge, timestampMs: timestampMs, nonce: nonce, scopes: scopes,
            signingString: message.text, signature: Base64URL.encode(try key.signature(for: Data(message.bytes))))
    }

    public static func es256() throws -> Vector {
        let key = try P256.Signing.PrivateKey(rawRepresentation: seed)
        let message = text()
        return Vector(
            keyType: .es256, privateKeyHex: hex(seed), publicKey: Base64URL.encode(key.publicKey.x963Representation),
            keyID: keyID, challenge: challenge, timestampMs: timestampMs, nonce: nonce, scopes: scopes,
            signingString: message.text, signature: Base64URL.encode(try key.signature(for: Data(message.bytes)).rawRepresentation))
    }

    /// ML-DSA-65 from the 32-byte seed (FIPS 204 `ξ`); signatures are hedged (randomized), so this
    /// vector is checked by verification.
    public static func mlDSA65() throws -> Vector {
        let key = try MLDSA65.PrivateKey(seedRepresentation: seed, publicKey: nil)
        let message = text()
        return Vector(
            keyType: .mlDSA65, privateKeyHex: hex(seed), publicKey: Base64URL.encode(key.publicKey.rawRepresentation),
            keyID: keyID, challenge: challenge, timestampMs: timestampMs, nonce: nonce, scopes: scopes,
            signingString: message.text, signature: Base64URL.encode(try key.signature(for: Data(message.bytes))))
    }

    /// HMAC-SHA256 (legacy keys) with the 32 seed bytes as the secret: deterministic. The
    /// `public_key` field carries the secret here, since an HMAC key has no public part.
    public static func hmacSHA256() -> Vector {
        let message = text()
        let tag = HMAC<SHA256>.authenticationCode(for: message.bytes, using: SymmetricKey(data: seed))
        return Vector(
            keyType: .hmacSHA256, privateKeyHex: hex(seed), publicKey: Base64URL.encode(seed), keyID: keyID, challenge: challenge,
            timestampMs: timestampMs, nonce: nonce, scopes: scopes, signingString: message.text, signature: Base64URL.encode(tag))
    }

    /// The vectors as the JSON document committed under docs/vectors.
    public static func document(_ vectors: [Vector]) -> String {
        var lines = ["["]
        for (index, vector) in vectors.enumerated() {
            var w = JSONWriter()
            w.beginObject()
            for (key, value) in [
                ("key_type", vector.keyType.rawValue), ("private_key_hex", vector.privateKeyHex), ("public_key", vector.publicKey),
                ("key_id", vector.keyID), ("challenge", vector.challenge),
            ] {
                w.key(key)
                w.string(value)
            }
            w.key("timestamp_ms")
            w.int(vector.timestampMs)
            w.key("nonce")
            w.string(vector.nonce)
            w.key("scopes")
            w.beginArray()
            for scope in vector.scopes { w.string(scope) }
            w.endArray()
            w.key("signing_string")
            w.string(vector.signingString)
            w.key("signature")
            w.string(vector.signature)
            w.endObject()
            lines.append("  " + w.string + (index == vectors.count - 1 ? "" : ","))
        }
        lines.append("]")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
