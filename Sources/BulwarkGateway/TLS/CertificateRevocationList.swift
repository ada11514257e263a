import Foundation
import SwiftASN1
import X509

/// An X.509 CRL (RFC 5280 §5), parsed from DER or PEM: issuer, validity and revoked serial numbers.
///
/// swift-certificates validates chains but has no CRL type, so this is the small part written
/// here, on SwiftASN1. Its signature is checked with swift-certificates (`isSigned(by:)`) before
/// the gateway trusts any of it.
///
///     CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }
///     TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL, signature AlgorithmIdentifier, issuer Name,
///         thisUpdate Time, nextUpdate Time OPTIONAL,
///         revokedCertificates SEQUENCE OF SEQUENCE { userCertificate INTEGER, revocationDate Time, crlEntryExtensions OPTIONAL } OPTIONAL,
///         crlExtensions [0] EXPLICIT Extensions OPTIONAL }
public struct CertificateRevocationList: Sendable {
    public let issuer: DistinguishedName
    public let thisUpdate: Date
    public let nextUpdate: Date?
    public let revokedSerials: Set<Certificate.SerialNumber>
    let tbsBytes: ArraySlice<UInt8>
    let signatureAlgorithm: Certificate.SignatureAlgorithm
    let signature: ArraySlice<UInt8>

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public init(pemOrDER bytes: [UInt8]) throws {
        if let text = String(validating: bytes, as: UTF8.self), text.contains("-----BEGIN X509 CRL-----") {
            let document = try PEMDocument(pemString: text)
            guard document.discriminator == "X509 CRL" else { throw Invalid("not an X509 CRL PEM block") }
            try self.init(derEncoded: Array(document.derBytes))
        } else {
            try self.init(derEncoded: bytes)
        }
    }

    public init(derEncoded bytes: [UInt8]) throws {
        let root = try DER.parse(bytes)
        var parsed: (ASN1Node, Certificate.SignatureAlgorithm, ASN1BitString)?
        try DER.sequence(root, identifier: .sequence) { nodes in
            guard let tbs = nodes.next() else { throw Invalid("missing tbsCertList") }
            let algorithm = try Self.signatureAlgorithm(&nodes)
            let signature = try ASN1BitString(derEncoded: &nodes)
            parsed = (tbs, algorithm, signature)
        }
        guard let (tbsNode, outerAlgorithm, signatureBits) = parsed else { throw Invalid("empty CRL") }
        var fields: (DistinguishedName, Date, Date?, Set<Certificate.SerialNumber>, Certificate.SignatureAlgorithm)?
        try DER.sequence(tbsNode, identifier: .sequence) { nodes in
            var lookahead = nodes
            if let first = lookahead.next(), first.identifier == .integer {
                _ = try Int(derEncoded: &nodes)  // version v2; v1 omits it
            }
            let innerAlgorithm = try Self.signatureAlgorithm(&nodes)
            let issuer = try DistinguishedName(derEncoded: &nodes)
            let thisUpdate = try Self.time(&nodes)
            var nextUpdate: Date?
            var revoked = Set<Certificate.SerialNumber>()
            lookahead = nodes
            if let next = lookahead.next(), next.identifier == UTCTime.defaultIdentifier || next.identifier == GeneralizedTime.defaultIdentifier {
                nextUpdate = try Self.time(&nodes)
            }
            lookahead = nodes
            if let next = lookahead.next(), next.identifier == .sequence {
                _ = nodes.next()
                try DER.sequence(next, identifier: .sequence) { entries in
                    while let entry = entries.next() {
                        try DER.sequence(entry, identifier: .sequence) { parts in
                            let serial = try ArraySlice<UInt8>(derEncoded: &parts)
                            revoked.insert(Certificate.SerialNumber(bytes: serial))
                            _ = try Self.time(&parts)
                            _ = parts.next()  // crlEntryExtensions (reason codes etc.), not needed to honour revocation
                        }
                    }
                }
            }
            _ = nodes.next()  // crlExtensions [0]
            fields = (issuer, thisUpdate, nextUpdate, revoked, innerAlgorithm)
        }
        guard let (issuer, thisUpdate, nextUpdate, revoked, innerAlgorithm) = fields else { throw Invalid("empty tbsCertList") }
        guard innerAlgorithm == outerAlgorithm else { throw Invalid("signature algorithms disagree") }
        self.issuer = issuer
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.revokedSerials = revoked
        self.tbsBytes = tbsNode.encodedBytes
        self.signatureAlgorithm = outerAlgorithm
        self.signature = signatureBits.bytes
    }

    /// Whether `issuerCertificate` issued this CRL: same name and a valid signature by its key.
    public func isSigned(by issuerCertificate: Certificate) -> Bool {
        issuerCertificate.subject == issuer
            && issuerCertificate.publicKey.isValidSignature(signature, for: tbsBytes, signatureAlgorithm: signatureAlgorithm)
    }

    /// The signature algorithms swift-certificates can verify, by OID.
    private static let algorithms: [ASN1ObjectIdentifier: Certificate.SignatureAlgorithm] = [
        [1, 2, 840, 10045, 4, 3, 2]: .ecdsaWithSHA256, [1, 2, 840, 10045, 4, 3, 3]: .ecdsaWithSHA384,
        [1, 2, 840, 10045, 4, 3, 4]: .ecdsaWithSHA512, [1, 2, 840, 113549, 1, 1, 11]: .sha256WithRSAEncryption,
        [1, 2, 840, 113549, 1, 1, 12]: .sha384WithRSAEncryption, [1, 2, 840, 113549, 1, 1, 13]: .sha512WithRSAEncryption,
        [1, 3, 101, 112]: .ed25519,
    ]

    private static func signatureAlgorithm(_ nodes: inout ASN1NodeCollection.Iterator) throws -> Certificate.SignatureAlgorithm {
        guard let node = nodes.next() else { throw Invalid("missing AlgorithmIdentifier") }
        return try DER.sequence(node, identifier: .sequence) { parts in
            let oid = try ASN1ObjectIdentifier(derEncoded: &parts)
            _ = parts.next()  // parameters (NULL for RSA, absent for ECDSA/Ed25519)
            guard let algorithm = algorithms[oid] else { throw Invalid("unsupported CRL signature algorithm \(oid)") }
            return algorithm
        }
    }

    private static func time(_ nodes: inout ASN1NodeCollection.Iterator) throws -> Date {
        guard let node = nodes.next() else { throw Invalid("missing time") }
        var components = DateComponents()
        components.timeZone = TimeZone(identifier: "UTC")
        switch node.identifier {
        case UTCTime.defaultIdentifier:
            let time = try UTCTime(derEncoded: node)
            (components.year, components.month, components.day) = (time.year, time.month, time.day)
            (components.hour, components.minute, components.second) = (time.hours, time.minutes, time.seconds)
        case GeneralizedTime.defaultIdentifier:
            let time = try GeneralizedTime(derEncoded: node)
            (components.year, components.month, components.day) = (time.year, time.month, time.day)
            (components.hour, components.minute, components.second) = (time.hours, time.minutes, time.seconds)
        default:
            throw Invalid("unexpected time type")
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: components) else { throw Invalid("invalid time") }
        return date
    }
}
