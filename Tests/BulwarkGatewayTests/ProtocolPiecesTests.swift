@testable import BulwarkGateway
import BulwarkCore
import Foundation
import Testing
import X509

@Suite struct SubscriptionTopicTests {
    @Test func publicAndPrivateChannels() {
        let trades = SubscriptionTopic(channel: "trades.BTC-USD", accountID: nil)
        #expect(trades?.key == "trades.BTC-USD" && trades?.isPrivate == false)
        let orders = SubscriptionTopic(channel: "orders", accountID: "a_1")
        #expect(orders?.channel == "orders" && orders?.key == "orders#a_1" && orders?.isPrivate == true)
        // Two accounts never share a private topic.
        #expect(SubscriptionTopic(channel: "fills", accountID: "a_2")?.key != SubscriptionTopic(channel: "fills", accountID: "a_1")?.key)
        for bad in ["nope", "trades.", "quotes.BTC-USD", "", "trades." + String(repeating: "X", count: 49)] {
            #expect(SubscriptionTopic(channel: bad, accountID: "a_1") == nil, "\(bad)")
        }
    }
}

@Suite struct ResponseEncodingTests {
    @Test func errorCarriesOnlyProtocolData() throws {
        let bytes = RPCResponse.error(id: .int(3), RPCError(.rateLimited, retryAfterMs: 10, bucket: "orders"))
        let value = try StrictJSONParser().parse(bytes)
        let error = value.objectValue?["error"]?.objectValue
        #expect(error?["code"]?.int64Value == 11001)
        #expect(error?["message"]?.stringValue == "rate_limited")
        #expect(error?["data"]?.objectValue?.keys == ["retry_after_ms", "bucket"])
        #expect(value.objectValue?["id"]?.int64Value == 3)
        let noID = try StrictJSONParser().parse(RPCResponse.error(id: nil, RPCError(.parseError)))
        #expect(noID.objectValue?["id"]?.isNull == true)
    }

    @Test func everyErrorCodeHasAUniqueName() {
        #expect(Set(ErrorCode.allCases.map(\.name)).count == ErrorCode.allCases.count)
    }

    @Test func clientOrderIDGrammar() {
        #expect(ClientOrderID.isValid("abc-DEF_123"))
        #expect(ClientOrderID.isValid(String(repeating: "a", count: 36)))
        for bad in ["", String(repeating: "a", count: 37), "a b", "é", "a\n", "a.b"] { #expect(!ClientOrderID.isValid(bad)) }
    }

    @Test func scopesPerMethod() {
        #expect(PrivateMethod.orderPlace.isAllowed(by: [.trade]))
        #expect(!PrivateMethod.orderPlace.isAllowed(by: [.read, .cancel, .account]))
        #expect(PrivateMethod.orderCancel.isAllowed(by: [.cancel]))
        #expect(!PrivateMethod.accountBalances.isAllowed(by: [.trade]))
    }
}

@Suite struct DevelopmentPKITests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-pki-\(UUID().uuidString)").path

    @Test func createsReusesAndRenews() throws {
        let pki = DevelopmentPKI(directory: directory)
        let now = Date()
        #expect(try pki.ensure(now: now) == .createdAuthorityAndServer)
        #expect(try pki.ensure(now: now) == .reused)
        let ca = try Certificate(pemEncoded: String(contentsOfFile: pki.caCertificatePath, encoding: .utf8))
        let chain = try String(contentsOfFile: pki.serverCertificatePath, encoding: .utf8)
        let leaf = try DevelopmentPKI.leafCertificate(chainPEM: chain)
        #expect(leaf.issuer == ca.subject)
        #expect(try leaf.extensions.basicConstraints == .notCertificateAuthority)
        #expect(try ca.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        let names = try #require(try leaf.extensions.subjectAlternativeNames)
        #expect(names.contains(GeneralName.dnsName("localhost")))
        #expect(leaf.notValidAfter.timeIntervalSince(now) > 80 * 86_400)
        for secret in [pki.caKeyPath, pki.serverKeyPath] {
            let mode = try FileManager.default.attributesOfItem(atPath: secret)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
        // 80 days later fewer than 14 days remain: the server certificate is renewed, the CA kept.
        #expect(try pki.ensure(now: now.addingTimeInterval(80 * 86_400)) == .renewedServer)
        #expect(try String(contentsOfFile: pki.caCertificatePath, encoding: .utf8) == ca.serializeAsPEM().pemString + "\n")
    }

    @Test func ed25519PEMIsPKCS8() throws {
        let seed = [UInt8](repeating: 7, count: 32)
        let pem = Ed25519PEM.encodePrivateKey(seed)
        #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"))
        #expect(try Ed25519PEM.decodePrivateKey(pem) == seed)
        #expect(throws: BootstrapError.self) { try Ed25519PEM.decodePrivateKey("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n") }
    }
}
