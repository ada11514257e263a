import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// A server certificate chain and its private key, checked before the listener may use them.
///
/// Checks: the chain parses and is leaf-first; the key is RSA ≥ 2048 bits, ECDSA P-256/P-384 or
/// Ed25519; the private key belongs to the leaf; the leaf is valid now. A file that fails any check
/// never replaces a working certificate.
public struct CertificateBundle: Sendable {
    public let chainPEM: String
    public let keyPEM: String
    public let leaf: Certificate
    /// SHA-256 of the leaf's DER, hex: what operators and clients compare.
    public let fingerprint: String

    public var notValidAfter: Date { leaf.notValidAfter }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public static let minimumRSABits = 2048

    public init(chainPEM: String, keyPEM: String, now: Date = Date()) throws {
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: chainPEM).filter { $0.discriminator == "CERTIFICATE" }
        } catch {
            throw Invalid("certificate file is not PEM: \(error)")
        }
        guard let first = documents.first else { throw Invalid("certificate file holds no CERTIFICATE block") }
        let leaf: Certificate
        do { leaf = try Certificate(pemDocument: first) } catch { throw Invalid("leaf certificate does not parse: \(error)") }
        let privateKey: Certificate.PrivateKey
        do { privateKey = try Certificate.PrivateKey(pemEncoded: keyPEM) } catch { throw Invalid("private key does not parse: \(error)") }
        guard privateKey.publicKey == leaf.publicKey else { throw Invalid("private key does not belong to the leaf certificate") }
        try Self.checkKeyStrength(leaf.publicKey)
        guard leaf.notValidBefore <= now else { throw Invalid("certificate is not valid before \(leaf.notValidBefore)") }
        guard now < leaf.notValidAfter else { throw Invalid("certificate expired at \(leaf.notValidAfter)") }
        self.chainPEM = chainPEM
        self.keyPEM = keyPEM
        self.leaf = leaf
        var serializer = DER.Serializer()
        try serializer.serialize(leaf)
        fingerprint = SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02x", $0) }.joined()
    }

    static func checkKeyStrength(_ key: Certificate.PublicKey) throws {
        if P256.Signing.PublicKey(key) != nil || P384.Signing.PublicKey(key) != nil || Curve25519.Signing.PublicKey(key) != nil {
            return
        }
        if let rsa = _RSA.Signing.PublicKey(key) {
            guard rsa.keySizeInBits >= minimumRSABits else {
                throw Invalid("RSA key of \(rsa.keySizeInBits) bits; at least \(minimumRSABits) required")
            }
            return
        }
        throw Invalid("unsupported key type (RSA ≥ 2048, ECDSA P-256/P-384 or Ed25519 required)")
    }

    /// Days until expiry, rounded down.
    public func daysLeft(now: Date = Date()) -> Int { Int(notValidAfter.timeIntervalSince(now) / 86_400) }
}
