import BulwarkCore
import Crypto
import Foundation

/// Encrypts secrets at rest (HMAC key secrets now, TOTP seeds later) with AES-256-GCM under the
/// gateway's master key.
///
/// Sealed form: `v1.<key id>.<b64u(nonce ‖ ciphertext ‖ tag)>`, where the key id is the first 8
/// bytes of SHA-256(master key) in hex, so a rotation can tell which key sealed a value. The record's
/// own id is the associated data: a sealed secret copied onto another row does not open.
public struct SecretBox: Sendable {
    public let keyID: String
    private let key: SymmetricKey

    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public init(masterKey: [UInt8]) throws {
        guard masterKey.count == 32 else { throw Failure(description: "the master key must be 32 bytes") }
        key = SymmetricKey(data: masterKey)
        keyID = SHA256.hash(data: masterKey).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Reads a master key file: 32 bytes as base64url text (what `bulwark init` writes).
    public static func loadKey(file path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path),
            let bytes = Base64URL.decode(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
            bytes.count == 32
        else { throw Failure(description: "\(path) does not hold a 32-byte base64url master key") }
        return bytes
    }

    public func seal(_ secret: [UInt8], boundTo recordID: String) throws -> String {
        let box = try AES.GCM.seal(secret, using: key, authenticating: Array(recordID.utf8))
        guard let combined = box.combined else { throw Failure(description: "sealing failed") }
        return "v1.\(keyID).\(Base64URL.encode(combined))"
    }

    public func open(_ sealed: String, boundTo recordID: String) throws -> [UInt8] {
        let parts = sealed.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "v1" else { throw Failure(description: "unknown sealed format") }
        guard parts[1] == keyID else { throw Failure(description: "sealed under another master key (\(parts[1]))") }
        guard let combined = Base64URL.decode(parts[2]), let box = try? AES.GCM.SealedBox(combined: combined) else {
            throw Failure(description: "malformed sealed secret")
        }
        do {
            return Array(try AES.GCM.open(box, using: key, authenticating: Array(recordID.utf8)))
        } catch {
            throw Failure(description: "sealed secret does not open (tampered, or bound to another record)")
        }
    }
}
