import Crypto
import Foundation
import SwiftASN1
import X509

/// The development certificate authority and the server certificate it signs, so that
/// `bulwark serve` speaks TLS with no set-up. Clients trust `DATA/tls/ca.pem`.
///
/// Both keys are ECDSA P-256. The server certificate names localhost, 127.0.0.1 and ::1, is valid
/// for 90 days and is re-issued at start when fewer than 14 days remain; the CA lasts 10 years.
public struct DevelopmentPKI: Sendable {
    public let directory: String

    public var caCertificatePath: String { directory + "/ca.pem" }
    public var caKeyPath: String { directory + "/ca-key.pem" }
    public var serverCertificatePath: String { directory + "/server.pem" }
    public var serverKeyPath: String { directory + "/server-key.pem" }

    static let serverLifetime: TimeInterval = 90 * 86_400
    static let renewBefore: TimeInterval = 14 * 86_400
    static let caLifetime: TimeInterval = 10 * 365 * 86_400

    public init(directory: String) { self.directory = directory }

    public enum Outcome: Sendable, Equatable {
        case reused
        case createdAuthorityAndServer
        case renewedServer
    }

    /// Creates what is missing and renews an expiring server certificate.
    public func ensure(now: Date = Date()) throws -> Outcome {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if !SecretFile.exists(caCertificatePath) || !SecretFile.exists(caKeyPath) {
            let caKey = P256.Signing.PrivateKey()
            let ca = try makeAuthority(key: caKey, now: now)
            try SecretFile.write(caKey.pemRepresentation, to: caKeyPath)
            try SecretFile.writePublic(try ca.serializeAsPEM().pemString + "\n", to: caCertificatePath)
            try issueServerCertificate(ca: ca, caKey: caKey, now: now)
            return .createdAuthorityAndServer
        }
        if let existing = try? Self.leafCertificate(chainPEM: SecretFile.read(serverCertificatePath)),
            SecretFile.exists(serverKeyPath),
            existing.notValidAfter.timeIntervalSince(now) > Self.renewBefore
        {
            return .reused
        }
        let caKey = try P256.Signing.PrivateKey(pemRepresentation: SecretFile.read(caKeyPath))
        let ca = try Certificate(pemEncoded: SecretFile.read(caCertificatePath))
        try issueServerCertificate(ca: ca, caKey: caKey, now: now)
        return .renewedServer
    }

    /// The first certificate of a PEM chain (leaf first, then its issuers).
    public static func leafCertificate(chainPEM: String) throws -> Certificate {
        guard let first = try PEMDocument.parseMultiple(pemString: chainPEM).first else {
            throw BootstrapError("no certificate in chain")
        }
        return try Certificate(pemDocument: first)
    }

    private func makeAuthority(key: P256.Signing.PrivateKey, now: Date) throws -> Certificate {
        let name = try DistinguishedName {
            OrganizationName("Bulwark development")
            CommonName("Bulwark development CA")
        }
        let publicKey = Certificate.PublicKey(key.publicKey)
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Self.caLifetime),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
    }

    private func issueServerCertificate(ca: Certificate, caKey: P256.Signing.PrivateKey, now: Date) throws {
        let serverKey = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(serverKey.publicKey)
        let subject = try DistinguishedName {
            OrganizationName("Bulwark development")
            CommonName("localhost")
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Self.serverLifetime),
            issuer: ca.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([
                    .dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                    .ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))),
                ])
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(keyIdentifier: try ca.extensions.subjectKeyIdentifier?.keyIdentifier)
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey))
        // Replace atomically: a key file is never paired with the wrong certificate on disk for
        // longer than the two renames.
        try? FileManager.default.removeItem(atPath: serverKeyPath + ".new")
        try SecretFile.write(serverKey.pemRepresentation, to: serverKeyPath + ".new")
        try SecretFile.writePublic(
            try certificate.serializeAsPEM().pemString + "\n" + ca.serializeAsPEM().pemString + "\n",
            to: serverCertificatePath + ".new")
        _ = rename(serverKeyPath + ".new", serverKeyPath)
        _ = rename(serverCertificatePath + ".new", serverCertificatePath)
    }
}
