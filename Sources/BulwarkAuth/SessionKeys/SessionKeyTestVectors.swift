import BulwarkCore
import Crypto
import Foundation

/// Test vectors for session keys and sealed frames (docs/vectors/session-keys.json), produced by
/// this code so client authors can check key derivation and both frame modes byte for byte.
///
/// X25519, HKDF, HMAC and ChaCha20-Poly1305 are deterministic, so the X25519-only vector is
/// regenerated and compared exactly in the tests. ML-KEM encapsulation is randomized: the hybrid
/// vector gives the client's ML-KEM seed, the ciphertext and the shared secret, which a client
/// checks by decapsulating.
public enum SessionKeyTestVectors {
    static let clientX25519: [UInt8] = (0..<32).map { UInt8(0x40 + $0) }
    static let serverX25519: [UInt8] = (0..<32).map { UInt8(0x80 + $0) }
    static let identitySeed: [UInt8] = (0..<32).map { UInt8(0xC0 + $0) }
    static let mlkemSeed: [UInt8] = (0..<64).map { UInt8($0 * 3 & 0xFF) }
    static let challenge = Base64URL.encode((0..<32).map { UInt8($0) })
    static let sessionID = "s_TESTVECTOR00000000000"
    static let payloads = [#"{"jsonrpc":"2.0","id":1,"method":"private/session.status"}"#, #"{"jsonrpc":"2.0","id":2,"method":"public/time"}"#]

    /// The whole document: one X25519 vector, one hybrid vector.
    public static func document() throws -> String {
        var lines: [String] = []
        for hybrid in [false, true] {
            var w = JSONWriter()
            try write(hybrid: hybrid, to: &w)
            lines.append("  " + w.string)
        }
        return "[\n" + lines.joined(separator: ",\n") + "\n]\n"
    }

    /// The X25519-only vector's derived keys, for the exact-regeneration test.
    public static func x25519OnlyKeys() throws -> SessionKeys {
        let client = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: clientX25519)
        let server = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: serverX25519)
        let shared = try server.sharedSecretFromKeyAgreement(with: client.publicKey).withUnsafeBytes { Array($0) }
        return SessionKeys.derive(inputKeyMaterial: shared, challenge: Base64URL.decode(challenge)!, sessionID: sessionID)
    }

    static func write(hybrid: Bool, to w: inout JSONWriter) throws {
        let client = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: clientX25519)
        let server = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: serverX25519)
        let identity = try Curve25519.Signing.PrivateKey(rawRepresentation: identitySeed)
        let mlkem = hybrid ? try MLKEM768.PrivateKey(seedRepresentation: mlkemSeed, publicKey: nil) : nil
        let offer = KeyExchangeOffer(
            x25519: Array(client.publicKey.rawRepresentation), mlkem768: mlkem.map { Array($0.publicKey.rawRepresentation) })
        let shared = try server.sharedSecretFromKeyAgreement(with: client.publicKey).withUnsafeBytes { Array($0) }
        var ikm = shared
        var ciphertext: [UInt8]?
        if let mlkem {
            let result = try mlkem.publicKey.encapsulate()
            ciphertext = Array(result.encapsulated)
            ikm += result.sharedSecret.withUnsafeBytes { Array($0) }
        }
        let keys = SessionKeys.derive(inputKeyMaterial: ikm, challenge: Base64URL.decode(challenge)!, sessionID: sessionID)
        let transcript = KeyExchangeAnswer.transcript(
            challenge: challenge, offerHash: offer.hash, serverX25519: Array(server.publicKey.rawRepresentation), ciphertext: ciphertext)
        let signature = try identity.signature(for: transcript)
        var clientSide = SealedChannel(clientSideOf: keys)
        w.beginObject()
        field(&w, "name", hybrid ? "x25519+mlkem768" : "x25519")
        field(&w, "client_x25519_private_hex", hex(clientX25519))
        field(&w, "client_x25519_public", Base64URL.encode(client.publicKey.rawRepresentation))
        if let mlkem {
            field(&w, "client_mlkem768_seed_hex", hex(mlkemSeed))
            field(&w, "client_mlkem768_public", Base64URL.encode(mlkem.publicKey.rawRepresentation))
        }
        field(&w, "kx_hash", offer.hash)
        field(&w, "server_x25519_private_hex", hex(serverX25519))
        field(&w, "server_x25519_public", Base64URL.encode(server.publicKey.rawRepresentation))
        if let ciphertext, let mlkem {
            field(&w, "mlkem768_ct", Base64URL.encode(ciphertext))
            field(&w, "mlkem768_shared_secret_hex", hex(try mlkem.decapsulate(ciphertext).withUnsafeBytes { Array($0) }))
        }
        field(&w, "x25519_shared_hex", hex(shared))
        field(&w, "challenge", challenge)
        field(&w, "session_id", sessionID)
        field(&w, "ikm_hex", hex(ikm))
        field(&w, "k_c2s_hex", hex(keys.clientToServer.withUnsafeBytes { Array($0) }))
        field(&w, "k_s2c_hex", hex(keys.serverToClient.withUnsafeBytes { Array($0) }))
        field(&w, "identity_seed_hex", hex(identitySeed))
        field(&w, "identity_public", Base64URL.encode(identity.publicKey.rawRepresentation))
        field(&w, "kx_transcript", String(decoding: transcript, as: UTF8.self))
        field(&w, "kx_sig", Base64URL.encode(signature))
        w.key("frames")
        w.beginArray()
        for (mode, payload) in [(SealedFrameMode.mac, payloads[0]), (SealedFrameMode.aead, payloads[1])] {
            let seq = clientSide.nextSendSeq
            let frame = clientSide.seal(Array(payload.utf8), mode: mode)
            w.beginObject()
            field(&w, "direction", "client_to_server")
            w.key("mode")
            w.int(Int64(mode.rawValue))
            w.key("seq")
            w.uint(seq)
            field(&w, "payload", payload)
            field(&w, "frame_hex", hex(frame))
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    private static func field(_ w: inout JSONWriter, _ key: String, _ value: String) {
        w.key(key)
        w.string(value)
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
