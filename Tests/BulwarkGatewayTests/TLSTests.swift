@testable import BulwarkGateway
import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SwiftASN1
import Testing
import X509
import _CryptoExtras

/// Builds self-signed certificates with a chosen key for the validation tests.
enum TestCertificates {
    static func selfSigned(
        key: Certificate.PrivateKey, algorithm: Certificate.SignatureAlgorithm, notBefore: Date = Date().addingTimeInterval(-60),
        notAfter: Date = Date().addingTimeInterval(86_400 * 90)
    ) throws -> String {
        let name = try DistinguishedName { CommonName("localhost") }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: key.publicKey, notValidBefore: notBefore, notValidAfter: notAfter,
            issuer: name, subject: name, signatureAlgorithm: algorithm,
            extensions: try Certificate.Extensions { SubjectAlternativeNames([.dnsName("localhost")]) }, issuerPrivateKey: key)
        return try certificate.serializeAsPEM().pemString
    }
}

@Suite struct CertificateBundleTests {
    @Test func acceptsModernKeys() throws {
        let p256 = P256.Signing.PrivateKey()
        #expect(throws: Never.self) {
            try CertificateBundle(chainPEM: TestCertificates.selfSigned(key: .init(p256), algorithm: .ecdsaWithSHA256), keyPEM: p256.pemRepresentation)
        }
        let p384 = P384.Signing.PrivateKey()
        #expect(throws: Never.self) {
            try CertificateBundle(chainPEM: TestCertificates.selfSigned(key: .init(p384), algorithm: .ecdsaWithSHA384), keyPEM: p384.pemRepresentation)
        }
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        #expect(throws: Never.self) {
            try CertificateBundle(chainPEM: TestCertificates.selfSigned(key: .init(rsa), algorithm: .sha256WithRSAEncryption), keyPEM: rsa.pemRepresentation)
        }
    }

    @Test func refusesWeakMismatchedExpiredAndGarbage() throws {
        let weak = try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024))
        #expect(throws: CertificateBundle.Invalid.self) {
            try CertificateBundle(chainPEM: TestCertificates.selfSigned(key: .init(weak), algorithm: .sha256WithRSAEncryption), keyPEM: weak.pemRepresentation)
        }
        let key = P256.Signing.PrivateKey()
        let chain = try TestCertificates.selfSigned(key: .init(key), algorithm: .ecdsaWithSHA256)
        #expect(throws: CertificateBundle.Invalid.self) { try CertificateBundle(chainPEM: chain, keyPEM: P256.Signing.PrivateKey().pemRepresentation) }
        let expired = try TestCertificates.selfSigned(
            key: .init(key), algorithm: .ecdsaWithSHA256, notBefore: Date().addingTimeInterval(-86_400 * 10), notAfter: Date().addingTimeInterval(-60))
        #expect(throws: CertificateBundle.Invalid.self) { try CertificateBundle(chainPEM: expired, keyPEM: key.pemRepresentation) }
        #expect(throws: CertificateBundle.Invalid.self) { try CertificateBundle(chainPEM: "not a certificate", keyPEM: key.pemRepresentation) }
        #expect(throws: CertificateBundle.Invalid.self) { try CertificateBundle(chainPEM: chain, keyPEM: "garbage") }
    }

    @Test func expiryThresholds() {
        #expect(TLSContextProvider.expiryLevel(daysLeft: 90) == .ok)
        #expect(TLSContextProvider.expiryLevel(daysLeft: 30) == .ok)
        #expect(TLSContextProvider.expiryLevel(daysLeft: 29) == .warning)
        #expect(TLSContextProvider.expiryLevel(daysLeft: 7) == .warning)
        #expect(TLSContextProvider.expiryLevel(daysLeft: 6) == .alert)
    }
}

@Suite struct TLSContextProviderTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-tls-\(UUID().uuidString)").path

    func write(_ text: String, _ name: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/" + name
        try? FileManager.default.removeItem(atPath: path)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func swapsOnChangeAndKeepsTheOldCertificateOnABadFile() throws {
        let first = P256.Signing.PrivateKey()
        let certificatePath = try write(try TestCertificates.selfSigned(key: .init(first), algorithm: .ecdsaWithSHA256), "cert.pem")
        let keyPath = try write(first.pemRepresentation, "key.pem")
        let provider = try TLSContextProvider(
            source: .init(certificatePath: certificatePath, keyPath: keyPath, minimumVersion: .tls13),
            logger: Logger(label: "test"), metrics: GatewayMetrics())
        let original = provider.bundle.fingerprint
        #expect(provider.reload(force: false) == .unchanged)

        let second = P256.Signing.PrivateKey()
        _ = try write(try TestCertificates.selfSigned(key: .init(second), algorithm: .ecdsaWithSHA256), "cert.pem")
        _ = try write(second.pemRepresentation, "key.pem")
        guard case .swapped(let fingerprint) = provider.reload(force: false) else {
            Issue.record("expected a swap")
            return
        }
        #expect(fingerprint != original && provider.bundle.fingerprint == fingerprint)

        // A half-written rotation (new certificate, old key) is rejected and changes nothing.
        _ = try write(try TestCertificates.selfSigned(key: .init(P256.Signing.PrivateKey()), algorithm: .ecdsaWithSHA256), "cert.pem")
        guard case .rejected = provider.reload(force: false) else {
            Issue.record("expected a rejection")
            return
        }
        #expect(provider.bundle.fingerprint == fingerprint)
        // Reported once, not on every poll.
        #expect(provider.reload(force: false) == .unchanged)
    }
}

/// Completes a promise when the TLS handshake finishes or fails.
final class HandshakeObserver: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny
    let promise: EventLoopPromise<Void>
    init(promise: EventLoopPromise<Void>) { self.promise = promise }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { promise.succeed() }
        context.fireUserInboundEventTriggered(event)
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { promise.fail(error) }
    func channelInactive(context: ChannelHandlerContext) { promise.fail(ChannelError.eof) }
}

/// Key-exchange groups, checked with a NIOSSL client that offers only the group under test.
@Suite struct KeyExchangeGroupTests {
    static func handshake(offering groups: [NIOTLSCurve], maximumVersion: TLSVersion? = nil) async throws -> Bool {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-kx-\(UUID().uuidString)").path
        let pki = DevelopmentPKI(directory: directory)
        _ = try pki.ensure()
        let serverContext = try TLSSetup.serverContext(
            certificateChainPEM: String(contentsOfFile: pki.serverCertificatePath, encoding: .utf8),
            privateKeyPEM: String(contentsOfFile: pki.serverKeyPath, encoding: .utf8), minimumVersion: .tls13)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let outcome = try await handshake(group: group, pki: pki, serverContext: serverContext, groups: groups, maximumVersion: maximumVersion)
        try await group.shutdownGracefully()
        return outcome
    }

    private static func handshake(
        group: MultiThreadedEventLoopGroup, pki: DevelopmentPKI, serverContext: NIOSSLContext, groups: [NIOTLSCurve],
        maximumVersion: TLSVersion?
    ) async throws -> Bool {
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: serverContext)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()

        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(pki.caCertificatePath))
        configuration.curves = groups
        configuration.maximumTLSVersion = maximumVersion
        let clientContext = try NIOSSLContext(configuration: configuration)
        let promise = group.next().makePromise(of: Void.self)
        let client = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: clientContext, serverHostname: "localhost"))
                    try channel.pipeline.syncOperations.addHandler(HandshakeObserver(promise: promise))
                }
            }
            .connect(to: server.localAddress!).get()
        let succeeded: Bool
        do {
            try await promise.futureResult.get()
            succeeded = true
        } catch {
            succeeded = false
        }
        try? await client.close()
        try? await server.close()
        return succeeded
    }

    @Test func postQuantumHybridOnly() async throws {
        #expect(try await Self.handshake(offering: [.x25519_MLKEM768]))
    }

    @Test func classicalFallbacks() async throws {
        #expect(try await Self.handshake(offering: [.x25519]))
        #expect(try await Self.handshake(offering: [.secp256r1]))
    }

    @Test func groupsOutsideTheListAreRefused() async throws {
        #expect(try await !Self.handshake(offering: [.secp384r1]))
        #expect(try await !Self.handshake(offering: [.secp521r1]))
    }

    @Test func tls12IsRefusedByDefault() async throws {
        #expect(try await !Self.handshake(offering: [.x25519], maximumVersion: .tlsv12))
    }
}
