import BulwarkCore
import Crypto
import Foundation

/// The client's side of the session-key agreement (PROTOCOL.md §5), for the client libraries and
/// tests: the ephemeral shares offered in `kx`, then, from the gateway's answer, the identity
/// signature check and the same key derivation the server runs (`SessionKeys.derive`).
public struct KeyExchangeClient: Sendable {
    private let x25519: Curve25519.KeyAgreement.PrivateKey
    private let mlkem: MLKEM768.PrivateKey?
    public let offer: KeyExchangeOffer

    public enum Failure: Error, Equatable, Sendable {
        /// The answer's shares are malformed, or it answered another agreement than offered.
        case malformedAnswer
        /// The gateway identity's signature over the transcript does not verify.
        case identityMismatch
        /// The agreement produced no secret (a low-order server share) or ML-KEM failed.
        case agreementFailed
    }

    /// Fresh ephemeral keys; `hybrid` adds ML-KEM-768 (quantum-resistant together with X25519).
    public init(hybrid: Bool) throws {
        try self.init(x25519: Curve25519.KeyAgreement.PrivateKey(), mlkem: hybrid ? MLKEM768.PrivateKey() : nil)
    }

    /// Given keys (test vectors).
    public init(x25519: Curve25519.KeyAgreement.PrivateKey, mlkem: MLKEM768.PrivateKey?) {
        self.x25519 = x25519
        self.mlkem = mlkem
        self.offer = KeyExchangeOffer(
            x25519: Array(x25519.publicKey.rawRepresentation), mlkem768: mlkem.map { Array($0.publicKey.rawRepresentation) })
    }

    /// Checks the answer and derives the session's keys.
    ///
    /// - Parameters:
    ///   - challenge: the challenge the login signed (the salt, and part of the transcript).
    ///   - identity: the pinned gateway identity key; nil skips the check (then whoever terminated
    ///     TLS could have answered: only for loopback development).
    public func finish(
        serverX25519: [UInt8], ciphertext: [UInt8]?, signature: [UInt8], challenge: String, sessionID: String,
        identity: Curve25519.Signing.PublicKey?
    ) throws(Failure) -> SessionKeys {
        guard (ciphertext != nil) == (mlkem != nil) else { throw .malformedAnswer }
        if let identity {
            let transcript = KeyExchangeAnswer.transcript(
                challenge: challenge, offerHash: offer.hash, serverX25519: serverX25519, ciphertext: ciphertext)
            guard identity.isValidSignature(signature, for: transcript) else { throw .identityMismatch }
        }
        guard let serverKey = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: serverX25519),
            let shared = try? x25519.sharedSecretFromKeyAgreement(with: serverKey)
        else { throw .malformedAnswer }
        var ikm = shared.withUnsafeBytes { Array($0) }
        guard ikm.contains(where: { $0 != 0 }) else { throw .agreementFailed }
        if let mlkem, let ciphertext {
            guard let secret = try? mlkem.decapsulate(ciphertext) else { throw .agreementFailed }
            ikm += secret.withUnsafeBytes { Array($0) }
        }
        defer { for index in ikm.indices { ikm[index] = 0 } }
        guard let salt = Base64URL.decode(challenge) else { throw .malformedAnswer }
        return SessionKeys.derive(inputKeyMaterial: ikm, challenge: salt, sessionID: sessionID)
    }
}
