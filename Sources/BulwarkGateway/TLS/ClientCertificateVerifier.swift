import Crypto
import Foundation
import SwiftASN1
import X509

/// Whether the public listener asks for client certificates (institutional clients).
public enum ClientAuthMode: String, Sendable {
    /// No certificate is requested.
    case none
    /// A certificate is requested; without one the connection proceeds, and keys pinned to a
    /// certificate cannot log in. A presented certificate must be valid.
    case optional
    /// The handshake fails without a valid certificate.
    case required
}

/// Validates client certificate chains with swift-certificates: RFC 5280 (expiry, basic and name
/// constraints) against the configured CA set, plus key usage for client authentication and
/// revocation from CRL files.
public struct ClientCertificateVerifier: Sendable {
    public let roots: [Certificate]
    public let revocations: [CertificateRevocationList]

    public struct Rejected: Error, CustomStringConvertible {
        public let description: String
    }

    public init(caBundlePEM: String, crlFiles: [[UInt8]]) throws {
        roots = try PEMDocument.parseMultiple(pemString: caBundlePEM).filter { $0.discriminator == "CERTIFICATE" }
            .map { try Certificate(pemDocument: $0) }
        guard !roots.isEmpty else { throw Rejected(description: "tls.client_ca_file holds no certificate") }
        var lists: [CertificateRevocationList] = []
        for bytes in crlFiles {
            let list = try CertificateRevocationList(pemOrDER: bytes)
            // A CRL is trusted only when one of our CAs signed it.
            guard roots.contains(where: { list.isSigned(by: $0) }) else {
                throw Rejected(description: "CRL for \(list.issuer) is not signed by a configured client CA")
            }
            lists.append(list)
        }
        revocations = lists
    }

    /// Validates a presented chain (leaf first); returns the leaf's SHA-256 fingerprint.
    public func verify(chain: [Certificate]) async -> Result<String, Rejected> {
        guard let leaf = chain.first else { return .failure(Rejected(description: "no certificate")) }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy()
            ClientAuthenticationUsagePolicy()
            RevocationPolicy(revocations: revocations)
        }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(Array(chain.dropFirst()))) {
        case .validCertificate:
            return .success(Self.fingerprint(leaf))
        case .couldNotValidate(let failures):
            let reasons = failures.map { "\($0.policyFailureReason)" }.joined(separator: "; ")
            return .failure(Rejected(description: reasons.isEmpty ? "no chain to a configured CA" : reasons))
        }
    }

    /// SHA-256 of the certificate's DER, lowercase hex (what `keys create --client-cert-sha256` takes).
    public static func fingerprint(_ certificate: Certificate) -> String {
        var serializer = DER.Serializer()
        try? serializer.serialize(certificate)
        return fingerprintOfDER(serializer.serializedBytes)
    }

    public static func fingerprintOfDER(_ der: [UInt8]) -> String {
        SHA256.hash(data: der).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}

/// The leaf must be meant for TLS client authentication: EKU clientAuth (or anyExtendedKeyUsage)
/// and, when key usage is present, digitalSignature.
struct ClientAuthenticationUsagePolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [.X509ExtensionID.extendedKeyUsage]

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        let leaf = chain.leaf
        guard let usage = try? leaf.extensions.extendedKeyUsage,
            usage.contains(.clientAuth) || usage.contains(.any)
        else {
            return .failsToMeetPolicy(reason: "leaf certificate lacks the clientAuth extended key usage")
        }
        if let keyUsage = try? leaf.extensions.keyUsage, !keyUsage.digitalSignature {
            return .failsToMeetPolicy(reason: "leaf key usage does not allow digitalSignature")
        }
        return .meetsPolicy
    }
}

/// No certificate in the chain may be listed in a CRL of its issuer.
struct RevocationPolicy: VerifierPolicy {
    let revocations: [CertificateRevocationList]
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        for certificate in chain where certificate.issuer != certificate.subject {
            let revoked = revocations.contains { $0.issuer == certificate.issuer && $0.revokedSerials.contains(certificate.serialNumber) }
            if revoked {
                return .failsToMeetPolicy(reason: "certificate serial \(certificate.serialNumber) is revoked by its issuer's CRL")
            }
        }
        return .meetsPolicy
    }
}
