import BulwarkCore
import Crypto
import Foundation

/// The gateway's Ed25519 identity key: it will sign session-key exchanges (PROTOCOL.md §5) and audit
/// checkpoints. Stored as PKCS#8 PEM with mode 0600; created once, reused on every start.
public struct IdentityKey: Sendable {
    public let privateKey: Curve25519.Signing.PrivateKey

    public var publicKeyB64u: String { Base64URL.encode(privateKey.publicKey.rawRepresentation) }

    /// Reads an existing identity key (for operator commands; never creates one).
    public static func load(path: String) throws -> IdentityKey {
        IdentityKey(privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: Ed25519PEM.decodePrivateKey(SecretFile.read(path))))
    }

    /// The current identity's public key and those retired by `bulwark identity rotate`
    /// (`gateway-identity.retired-<ms>.pem` beside it): audit checkpoints signed by any of them verify.
    public static func allPublicKeys(folder: DataFolder) throws -> [Curve25519.Signing.PublicKey] {
        var keys = [try load(path: folder.identityKeyPath).privateKey.publicKey]
        let directory = (folder.identityKeyPath as NSString).deletingLastPathComponent
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix("gateway-identity.retired-") && name.hasSuffix(".pem") {
            if let key = try? load(path: directory + "/" + name) { keys.append(key.privateKey.publicKey) }
        }
        return keys
    }

    /// Emergency rotation: the current key is kept as retired (so old audit checkpoints still
    /// verify) and a new one takes its place; a running gateway uses it after a restart.
    public static func rotate(folder: DataFolder, nowMs: Int64) throws -> (retiredPath: String, key: IdentityKey) {
        let path = folder.identityKeyPath
        let retired = (path as NSString).deletingLastPathComponent + "/gateway-identity.retired-\(nowMs).pem"
        guard rename(path, retired) == 0 else { throw BootstrapError("cannot move \(path) aside") }
        let (key, _) = try loadOrCreate(path: path)
        return (retired, key)
    }

    public static func loadOrCreate(path: String) throws -> (IdentityKey, created: Bool) {
        if SecretFile.exists(path) {
            let raw = try Ed25519PEM.decodePrivateKey(SecretFile.read(path))
            return (IdentityKey(privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: raw)), false)
        }
        let key = Curve25519.Signing.PrivateKey()
        try SecretFile.write(Ed25519PEM.encodePrivateKey(Array(key.rawRepresentation)), to: path)
        return (IdentityKey(privateKey: key), true)
    }
}

/// Ed25519 private keys as PKCS#8 PEM (RFC 8410), the format `openssl` and Python's
/// `cryptography` read directly. swift-crypto has no PEM for Curve25519, and the encoding of a
/// 32-byte seed is a fixed 16-byte DER prefix, so it is written here.
public enum Ed25519PEM {
    /// SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }
    static let pkcs8Prefix: [UInt8] = [
        0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]

    public static func encodePrivateKey(_ seed: [UInt8]) -> String {
        PEM.encode(pkcs8Prefix + seed, label: "PRIVATE KEY")
    }

    public static func decodePrivateKey(_ pem: String) throws -> [UInt8] {
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        guard let der = Base64Standard.decode(body), der.count == 48, Array(der.prefix(16)) == pkcs8Prefix else {
            throw BootstrapError("not an Ed25519 PKCS#8 private key")
        }
        return Array(der.suffix(32))
    }
}

enum Base64Standard {
    static func decode(_ text: String) -> [UInt8]? { Data(base64Encoded: text).map(Array.init) }
}
