import BulwarkClient
import BulwarkCore
import Crypto
import Foundation
import Testing

@Suite(.serialized) struct SwiftClientLoginTests {
    /// Logs in with every key type, signed by swift-crypto through the client library, over a real
    /// TLS socket to the real binary; HMAC only because the operator enabled it.
    @Test func everyKeyTypeLogsInFromASwiftClient() async throws {
        let gateway = try await GatewayProcess.start(environment: ["BULWARK_AUTH_HMAC_ENABLED": "true"])
        defer { gateway.stop() }
        let account = try #require(try gateway.cli(["accounts", "create", "--name", "swift-client"])["account_id"]?.stringValue)

        var logins: [(String, any RequestSigner)] = []
        for signer in [Ed25519Signer(), P256Signer(), try MLDSA65Signer()] as [any RequestSigner] {
            let created = try gateway.cli([
                "keys", "create", "--account", account, "--type", signer.keyType.rawValue, "--public-key",
                Base64URL.encode(try #require(signer.publicKey)), "--scopes", "read",
            ])
            logins.append((try #require(created["key_id"]?.stringValue), signer))
        }
        let hmac = try gateway.cli(["keys", "create", "--account", account, "--type", "hmac-sha256", "--scopes", "read"])
        logins.append((try #require(hmac["key_id"]?.stringValue), try HMACSigner(secret: try #require(hmac["secret"]?.stringValue))))

        for (keyID, signer) in logins {
            let client = try BulwarkClient(try gateway.configuration(reconnect: false))
            try await client.connect()
            let result = try await client.login(keyID: keyID, signer: signer, scopes: ["read"])
            #expect(result.accountID == account, "\(signer.keyType)")
            #expect(result.scopes == ["read"], "\(signer.keyType)")
            let status = try await client.call("private/session.status")
            #expect(status["key_id"]?.stringValue == keyID)
            await client.close()
        }
    }

    /// A signature by another key is refused with `auth_failed` and nothing more.
    @Test func aBadSignatureIsRefused() async throws {
        let gateway = try await GatewayProcess.start()
        defer { gateway.stop() }
        let (_, keyID) = try gateway.trader(Ed25519Signer())
        let client = try BulwarkClient(try gateway.configuration(reconnect: false))
        try await client.connect()
        let refused = await #expect(throws: BulwarkError.self) {
            try await client.login(keyID: keyID, signer: Ed25519Signer(), scopes: ["read"])
        }
        #expect(refused?.message == "auth_failed")
        #expect(refused?.code == 10002)
        #expect(await client.session == nil)
        await client.close()
    }
}
