import BulwarkCore
import Crypto
import Foundation

/// Signs the signature grant's string (PROTOCOL.md §4) with an API key's private half, which never
/// leaves the client. The four key types of the gateway, all from swift-crypto.
public protocol RequestSigner: Sendable {
    /// The key type as `bulwark keys create --type` names it.
    var keyType: KeyAlgorithm { get }
    /// The raw public key as `keys create --public-key` takes it (base64url); nil for HMAC.
    var publicKey: [UInt8]? { get }
    func sign(_ message: [UInt8]) throws -> [UInt8]
}

/// Ed25519 (RFC 8032): 64-byte signatures.
public struct Ed25519Signer: RequestSigner {
    public let privateKey: Curve25519.Signing.PrivateKey
    public var keyType: KeyAlgorithm { .ed25519 }

    public init(_ privateKey: Curve25519.Signing.PrivateKey = .init()) { self.privateKey = privateKey }

    /// A PKCS#8 PEM file (`openssl genpkey -algorithm ed25519`), or a raw 32-byte seed.
    public init(pemFile path: String) throws {
        let pem = try String(contentsOfFile: path, encoding: .utf8)
        let der = try PEMBlock.der(pem, label: "PRIVATE KEY")
        // PKCS#8 v1 for Ed25519 (RFC 8410) is 48 bytes: OID 1.3.101.112, then OCTET STRING(OCTET STRING(seed)).
        guard der.count == 48, der[9..<12] == [0x2B, 0x65, 0x70] else { throw PEMBlock.Invalid() }
        self.privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32))
    }

    public var publicKey: [UInt8]? { Array(privateKey.publicKey.rawRepresentation) }
    public func sign(_ message: [UInt8]) throws -> [UInt8] { Array(try privateKey.signature(for: message)) }
}

/// ECDSA P-256 with SHA-256: raw `r‖s` (64 bytes), not DER.
public struct P256Signer: RequestSigner {
    public let privateKey: P256.Signing.PrivateKey
    public var keyType: KeyAlgorithm { .es256 }

    public init(_ privateKey: P256.Signing.PrivateKey = .init()) { self.privateKey = privateKey }
    public init(pemFile path: String) throws {
        self.privateKey = try P256.Signing.PrivateKey(pemRepresentation: try String(contentsOfFile: path, encoding: .utf8))
    }

    public var publicKey: [UInt8]? { Array(privateKey.publicKey.x963Representation) }
    public func sign(_ message: [UInt8]) throws -> [UInt8] { Array(try privateKey.signature(for: message).rawRepresentation) }
}

/// ML-DSA-65 (FIPS 204): 3309-byte signatures, post-quantum.
public struct MLDSA65Signer: RequestSigner {
    public let privateKey: MLDSA65.PrivateKey
    public var keyType: KeyAlgorithm { .mlDSA65 }

    public init(_ privateKey: MLDSA65.PrivateKey) { self.privateKey = privateKey }
    public init() throws { self.privateKey = try MLDSA65.PrivateKey() }
    /// From the 32-byte seed (the compact private key form of FIPS 204).
    public init(seed: [UInt8]) throws { self.privateKey = try MLDSA65.PrivateKey(seedRepresentation: seed, publicKey: nil) }

    public var publicKey: [UInt8]? { Array(privateKey.publicKey.rawRepresentation) }
    public func sign(_ message: [UInt8]) throws -> [UInt8] { Array(try privateKey.signature(for: message)) }
}

/// Legacy `hmac-sha256` keys: the gateway generated the 32-byte secret (`keys create` prints it
/// once, base64url). Refused unless the operator set `auth.hmac_enabled`.
public struct HMACSigner: RequestSigner {
    private let secret: SymmetricKey
    public var keyType: KeyAlgorithm { .hmacSHA256 }

    public init(secret: String) throws {
        guard let bytes = Base64URL.decode(secret), bytes.count == 32 else { throw PEMBlock.Invalid() }
        self.secret = SymmetricKey(data: bytes)
    }

    public var publicKey: [UInt8]? { nil }
    public func sign(_ message: [UInt8]) throws -> [UInt8] { Array(HMAC<SHA256>.authenticationCode(for: message, using: secret)) }
}

/// The body of one PEM block.
enum PEMBlock {
    struct Invalid: Error, CustomStringConvertible {
        var description: String { "not a key of the expected type" }
    }

    static func der(_ pem: String, label: String) throws -> [UInt8] {
        let begin = "-----BEGIN \(label)-----", end = "-----END \(label)-----"
        guard let start = pem.range(of: begin), let stop = pem.range(of: end, range: start.upperBound..<pem.endIndex),
            let der = Data(base64Encoded: String(pem[start.upperBound..<stop.lowerBound]).filter { !$0.isWhitespace })
        else { throw Invalid() }
        return Array(der)
    }
}
