import BulwarkCore
import Crypto
import Foundation

/// The client's half of the session-key agreement (`kx` in `public/auth`, PROTOCOL.md §5): an
/// X25519 public key and, for a hybrid quantum-resistant agreement, an ML-KEM-768 encapsulation key.
public struct KeyExchangeOffer: Sendable, Equatable {
    public let x25519: [UInt8]
    public let mlkem768: [UInt8]?

    public static let x25519Length = 32
    public static let mlkem768EncapsulationKeyLength = 1184

    public init(x25519: [UInt8], mlkem768: [UInt8]?) {
        self.x25519 = x25519
        self.mlkem768 = mlkem768
    }

    /// Reads `kx: {"x25519": b64u, "mlkem768": b64u?}`, checking lengths (the keys themselves are
    /// checked when used).
    public init(params: ParamsReader) throws(RPCError) {
        let text = try params.requiredString("x25519", maxLength: 64)
        guard let x25519 = Base64URL.decode(text), x25519.count == Self.x25519Length else {
            throw .invalidParams("kx.x25519", "expected_b64u_32_bytes")
        }
        var mlkem: [UInt8]?
        if let encoded = try params.string("mlkem768", maxLength: 1600) {
            guard let key = Base64URL.decode(encoded), key.count == Self.mlkem768EncapsulationKeyLength else {
                throw .invalidParams("kx.mlkem768", "expected_b64u_1184_bytes")
            }
            mlkem = key
        }
        self.init(x25519: x25519, mlkem768: mlkem)
    }

    public static let allowedMembers: Set<String> = ["x25519", "mlkem768"]

    /// The signing string's last line: the login signature covers the client's shares, so nobody
    /// in the middle can swap in their own.
    public var hash: String { SigningString.keyExchangeHash(x25519: x25519, mlkem768: mlkem768) }
}

/// One key per direction, derived for one session. `SymmetricKey` zeroes its storage when freed,
/// so dropping the value erases the keys.
public struct SessionKeys: Sendable {
    public let clientToServer: SymmetricKey
    public let serverToClient: SymmetricKey

    public init(clientToServer: SymmetricKey, serverToClient: SymmetricKey) {
        self.clientToServer = clientToServer
        self.serverToClient = serverToClient
    }

    /// `okm = HKDF-SHA256(ikm, salt = challenge bytes, info = "bulwark/1 session " + session_id, 64)`;
    /// `k_c2s = okm[0..<32]`, `k_s2c = okm[32..<64]`.
    public static func derive(inputKeyMaterial ikm: [UInt8], challenge: [UInt8], sessionID: String) -> SessionKeys {
        let okm = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: ikm), salt: challenge, info: Array(("bulwark/1 session " + sessionID).utf8),
            outputByteCount: 64)
        let bytes = okm.withUnsafeBytes { Array($0) }
        return SessionKeys(
            clientToServer: SymmetricKey(data: bytes[0..<32]), serverToClient: SymmetricKey(data: bytes[32..<64]))
    }
}

/// The server's half and the derived keys.
public struct KeyExchangeAnswer: Sendable {
    /// The server's ephemeral X25519 public key.
    public let x25519: [UInt8]
    /// The ML-KEM-768 ciphertext, when the client offered an encapsulation key.
    public let mlkem768Ciphertext: [UInt8]?
    /// The gateway identity's Ed25519 signature over `transcript`.
    public let signature: [UInt8]
    public let keys: SessionKeys

    /// `BULWARK-KX-1\n<challenge>\n<client kx hash>\n<b64u(server x25519 || mlkem768 ct)>`.
    public static func transcript(challenge: String, offerHash: String, serverX25519: [UInt8], ciphertext: [UInt8]?) -> [UInt8] {
        Array(
            ["BULWARK-KX-1", challenge, offerHash, Base64URL.encode(serverX25519 + (ciphertext ?? []))].joined(separator: "\n").utf8)
    }
}

public enum KeyExchangeFailure: Error, Equatable {
    case invalidX25519
    case invalidMLKEM
}

/// The server side of the agreement: an ephemeral X25519 key (and an ML-KEM encapsulation), the
/// keys derived with HKDF, and the transcript signed by the gateway identity so the client knows
/// the shares came from this gateway, not from whoever terminated TLS in between.
public enum SessionKeyExchange {
    /// Whether an offer can yield keys: an X25519 key that is not of low order (the agreement would
    /// be all zeros) and, if present, a well-formed ML-KEM-768 encapsulation key. Checked before
    /// the login is accepted, so a bad offer never leaves a session behind.
    public static func isUsable(_ offer: KeyExchangeOffer) -> Bool {
        guard let clientKey = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: offer.x25519),
            let shared = try? Curve25519.KeyAgreement.PrivateKey().sharedSecretFromKeyAgreement(with: clientKey),
            shared.withUnsafeBytes({ $0.contains { $0 != 0 } })
        else { return false }
        if let encapsulationKey = offer.mlkem768, (try? MLKEM768.PublicKey(rawRepresentation: encapsulationKey)) == nil { return false }
        return true
    }

    public static func answer(
        _ offer: KeyExchangeOffer, challenge: String, sessionID: String, identity: Curve25519.Signing.PrivateKey,
        ephemeral: Curve25519.KeyAgreement.PrivateKey = Curve25519.KeyAgreement.PrivateKey()
    ) throws(KeyExchangeFailure) -> KeyExchangeAnswer {
        guard let clientKey = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: offer.x25519),
            let shared = try? ephemeral.sharedSecretFromKeyAgreement(with: clientKey)
        else { throw .invalidX25519 }
        var ikm = shared.withUnsafeBytes { Array($0) }
        // An all-zero X25519 output means a low-order point: no secret was agreed.
        guard ikm.contains(where: { $0 != 0 }) else { throw .invalidX25519 }
        var ciphertext: [UInt8]?
        if let encapsulationKey = offer.mlkem768 {
            guard let publicKey = try? MLKEM768.PublicKey(rawRepresentation: encapsulationKey),
                let result = try? publicKey.encapsulate()
            else { throw .invalidMLKEM }
            ikm += result.sharedSecret.withUnsafeBytes { Array($0) }
            ciphertext = Array(result.encapsulated)
        }
        let serverX25519 = Array(ephemeral.publicKey.rawRepresentation)
        let transcript = KeyExchangeAnswer.transcript(
            challenge: challenge, offerHash: offer.hash, serverX25519: serverX25519, ciphertext: ciphertext)
        guard let signature = try? identity.signature(for: transcript) else { throw .invalidX25519 }
        let keys = SessionKeys.derive(inputKeyMaterial: ikm, challenge: Base64URL.decode(challenge) ?? Array(challenge.utf8), sessionID: sessionID)
        for index in ikm.indices { ikm[index] = 0 }
        return KeyExchangeAnswer(x25519: serverX25519, mlkem768Ciphertext: ciphertext, signature: Array(signature), keys: keys)
    }
}
