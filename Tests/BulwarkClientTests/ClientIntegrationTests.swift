@testable import BulwarkClient
import BulwarkAuth
import BulwarkCore
import Crypto
import Foundation
import Testing

/// The client library against the real gateway binary: orders, books, sealed frames, renewal,
/// resume with replay, rate limits, OAuth, and the refusals.
@Suite(.serialized) struct ClientIntegrationTests {
    @Test func orderRoundTripIsIdempotentAndErrorsAreTyped() async throws {
        let gateway = try await GatewayProcess.start()
        defer { gateway.stop() }
        let signer = P256Signer()
        let (_, keyID) = try gateway.trader(signer)
        let client = try BulwarkClient(try gateway.configuration())
        try await client.connect()
        // Loopback: the clocks agree to within the measurement's own uncertainty plus a little.
        #expect(!(await client.clockSkew).exceeds(1000))
        try await client.login(keyID: keyID, signer: signer)

        let request = OrderRequest.limit("BTC-USD", .buy, qty: "0.01", price: "58000")
        let first = try await client.place(request)
        let again = try await client.place(request)
        #expect(first.orderID != nil && again.orderID == first.orderID)
        #expect(again.duplicate && first.status == "open")
        #expect(try await client.openOrders().map(\.orderID) == [first.orderID])
        let refused = await #expect(throws: BulwarkError.self) {
            try await client.placeLimit("BTC-USD", .buy, qty: "0.01", price: "58000.001")
        }
        #expect(refused?.message == "price_not_on_tick")
        let cancelled = try await client.cancel(.clientOrderID(request.clientOrderID))
        #expect(cancelled.status == "cancelled")
        #expect(try await client.cancelAll().isEmpty)
        _ = try await client.placeLimit("BTC-USD", .buy, qty: "0.01", price: "58000")
        try await client.logout(cancelOrders: true)
        #expect(await client.reconnects == 0)
    }

    /// A machine clock an hour fast: `public/time` measures it and logins are stamped with the
    /// gateway's time, so they pass the 5 s receive window.
    @Test func clockSkewIsMeasuredAndLoginsCorrected() async throws {
        struct HourFast: WallClock {
            func nowUs() -> Int64 { SystemClock().nowUs() + 3_600_000_000 }
        }
        let gateway = try await GatewayProcess.start()
        defer { gateway.stop() }
        let signer = Ed25519Signer()
        let (account, keyID) = try gateway.trader(signer)
        var configuration = try gateway.configuration()
        configuration.clock = HourFast()
        let client = try BulwarkClient(configuration)
        try await client.connect()
        let skew = await client.clockSkew
        #expect(skew.offsetMs < -3_590_000 && skew.offsetMs > -3_610_000)
        #expect(skew.exceeds(60_000))
        #expect(try await client.login(keyID: keyID, signer: signer).accountID == account)

        // Without the correction the gateway says how far off we are.
        configuration.measureClockOnConnect = false
        let naive = try BulwarkClient(configuration)
        try await naive.connect()
        let refused = await #expect(throws: BulwarkError.self) { try await naive.login(keyID: keyID, signer: signer) }
        #expect(refused?.message == "timestamp_out_of_window")
        #expect((refused?.data["skew_ms"]?.int64Value ?? 0) > 3_590_000)
        await client.close()
        await naive.close()
    }

    @Test func bookRebuiltFromSnapshotAndDeltasEqualsAFreshSnapshot() async throws {
        let gateway = try await GatewayProcess.start()
        defer { gateway.stop() }
        let signer = Ed25519Signer()
        let (_, keyID) = try gateway.trader(signer)
        let trader = try BulwarkClient(try gateway.configuration())
        try await trader.connect()
        try await trader.login(keyID: keyID, signer: signer)
        try await trader.subscribe(["book.ETH-USD"])
        try await until("the first snapshot") { await trader.books["ETH-USD"]?.isSynced == true }
        for step in 0..<5 {
            _ = try await trader.placeLimit("ETH-USD", .buy, qty: "0.1", price: String(4980 - step))
        }
        // The five bids reached the book through deltas (the demo market may rest house bids there too).
        try await until("the bids to show") {
            let bids = await trader.books["ETH-USD"]?.bids ?? [:]
            return (0..<5).allSatisfy { bids[FixedDecimal(parsing: String(4980 - $0))!, default: .zero] >= FixedDecimal(parsing: "0.1")! }
        }
        _ = try await trader.cancelAll(instrument: "ETH-USD")

        let watcher = try BulwarkClient(try gateway.configuration())
        try await watcher.connect()
        try await watcher.subscribe(["book.ETH-USD"])
        try await until("both books to agree") {
            let mine = await trader.books["ETH-USD"], fresh = await watcher.books["ETH-USD"]
            return fresh?.isSynced == true && mine == fresh
        }
        let book = try #require(await trader.books["ETH-USD"])
        #expect(book.bestAsk != nil)
        #expect(book.bestBid != nil && book.bestBid!.price < book.bestAsk!.price)
        #expect(await trader.gaps == 0)
        await trader.close()
        await watcher.close()
    }

    @Test(arguments: [(SealedFrameMode.aead, true), (SealedFrameMode.mac, false)])
    func sessionKeysSealPrivateRequests(mode: SealedFrameMode, hybrid: Bool) async throws {
        let gateway = try await GatewayProcess.start()
        defer { gateway.stop() }
        let signer = Ed25519Signer()
        let (_, keyID) = try gateway.trader(signer, sealed: mode == .aead ? "aead" : "mac")
        let client = try BulwarkClient(try gateway.configuration())
        try await client.connect()
        try await client.login(keyID: keyID, signer: signer, sessionKeys: SessionKeyOptions(mode: mode, hybrid: hybrid))
        #expect(try await client.balances().contains { $0["asset"]?.stringValue == "USD" })
        let placed = try await client.placeLimit("BTC-USD", .buy, qty: "0.01", price: "58000")
        #expect(placed.status == "open")
        // Two sealed requests each way, checked by the gateway and by us.
        let sequences = try #require(await client.sealedSequences)
        #expect(sequences.send == 3 && sequences.receive == 3)
        // The key's policy refuses the same request in a plain frame.
        let refused = await #expect(throws: BulwarkError.self) {
            try await client.call("private/orders.open", sealed: false)
        }
        #expect(refused?.message == "sealed_required")
        await client.close()
    }

    @Test func aTamperedSealedFrameIsRefusedAndTheConnectionClosed() async throws {
        let gateway = try await GatewayProcess.start()
        defer { gateway.stop() }
        let signer = Ed25519Signer()
        let (_, keyID) = try gateway.trader(signer)
        let client = try BulwarkClient(try gateway.configuration(reconnect: false))
        let log = EventLog.attach(to: client)
        try await client.connect()
        try await client.login(keyID: keyID, signer: signer, sessionKeys: SessionKeyOptions(mode: .aead, hybrid: false))
        _ = try await client.balances()
        try await client.sendSealedForTesting(Array(#"{"jsonrpc":"2.0","id":99,"method":"private/orders.open"}"#.utf8)) { frame in
            var tampered = frame
            tampered[tampered.count - 1] ^= 0x01
            return tampered
        }
        try await until("the refusal and the close") { await !log.disconnectCodes().isEmpty }
        let errors = await log.notifications("error")
        #expect(errors.first?["message"]?.stringValue == "mac_invalid")
        #expect(errors.first?["data"]?.objectValue?["reason"]?.stringValue == "tag_mismatch")
        #expect(await log.disconnectCodes() == [4005])
    }

    @Test func aKeyExchangeAnswerFromAnotherIdentityIsRefused() async throws {
        let gateway = try await GatewayProcess.start()
        defer { gateway.stop() }
        let signer = Ed25519Signer()
        let (_, keyID) = try gateway.trader(signer)
        var configuration = try gateway.configuration(reconnect: false)
        configuration.identityPublicKey = Curve25519.Signing.PrivateKey().publicKey
        let client = try BulwarkClient(configuration)
        try await client.connect()
        await #expect(throws: ClientError.self) {
            try await client.login(keyID: keyID, signer: signer, sessionKeys: SessionKeyOptions(mode: .aead, hybrid: false))
        }
    }

    @Test func renewsInPlaceOnSessionExpiring() async throws {
        let gateway = try await GatewayProcess.start(environment: [
            "BULWARK_SESSION_IDLE_TIMEOUT_MS": "11000", "BULWARK_SESSION_ABSOLUTE_TIMEOUT_MS": "11000",
            "BULWARK_SESSION_WARNING_LEAD_MS": "10000",
        ])
        defer { gateway.stop() }
        let signer = Ed25519Signer()
        let (_, keyID) = try gateway.trader(signer)
        let client = try BulwarkClient(try gateway.configuration())
        let log = EventLog.attach(to: client)
        try await client.connect()
        let first = try await client.login(keyID: keyID, signer: signer)
        try await until("the renewal") { await client.session?.renewed == true }
        #expect(await client.session?.sessionID == first.sessionID)
        #expect((await client.session?.expiresAtMs ?? 0) > (first.expiresAtMs ?? 0))
        #expect(await !log.notifications("session.expiring").isEmpty)
        #expect(try await client.call("private/session.status")["session_id"]?.stringValue == first.sessionID)
        await client.close()
    }

    @Test func reconnectResumesAndReplaysMissedPrivateEventsOnce() async throws {
        let gateway = try await GatewayProcess.start()
        defer { gateway.stop() }
        let buyerKey = Ed25519Signer(), sellerKey = Ed25519Signer()
        let (_, buyerID) = try gateway.trader(buyerKey, fund: "USD=1000000")
        let (_, sellerID) = try gateway.trader(sellerKey, fund: "BTC=10")
        var configuration = try gateway.configuration()
        configuration.backoffInitialMs = 50
        let buyer = try BulwarkClient(configuration)
        let log = EventLog.attach(to: buyer)
        try await buyer.connect()
        try await buyer.login(keyID: buyerID, signer: buyerKey)
        try await buyer.subscribe(["orders", "fills", "balances", "session"])
        let bid = try await buyer.placeLimit("BTC-USD", .buy, qty: "0.05", price: "60000")
        try await until("the order event") { await !log.messages(on: "orders").isEmpty }
        let sessionID = await buyer.session?.sessionID

        await buyer.holdReconnects(true)
        await buyer.simulateNetworkFailure()
        let seller = try BulwarkClient(try gateway.configuration(reconnect: false))
        try await seller.connect()
        try await seller.login(keyID: sellerID, signer: sellerKey)
        for _ in 0..<3 { _ = try await seller.placeLimit("BTC-USD", .sell, qty: "0.01", price: "60000") }
        await buyer.holdReconnects(false)

        try await until("the resume") { await buyer.reconnects == 1 }
        #expect(await buyer.session?.sessionID == sessionID)
        #expect(await buyer.session?.resumed == true)
        // Three fills, three order updates and the balance changes happened while it was away.
        #expect((await buyer.session?.replayed ?? 0) >= 6)
        #expect(await buyer.subscriptions == ["orders", "fills", "balances", "session"])
        _ = try await seller.placeLimit("BTC-USD", .sell, qty: "0.01", price: "60000")
        try await until("four fills") { await log.messages(on: "fills").count >= 4 }
        let order = try await buyer.orderStatus(.orderID(try #require(bid.orderID)))
        #expect(order.filledQty == FixedDecimal(parsing: "0.04"))
        // Every private event exactly once: replayed ones are not repeated by the live stream.
        let fills = await log.messages(on: "fills")
        #expect(fills.count == 4)
        #expect(Set(fills.compactMap { $0.data.objectValue?["trade_id"]?.stringValue }).count == 4)
        let privateSeqs = await log.events.compactMap { event -> Int64? in
            if case .message(let message) = event { return message.privateSeq }
            return nil
        }
        #expect(privateSeqs == privateSeqs.sorted() && Set(privateSeqs).count == privateSeqs.count)
        await buyer.close()
        await seller.close()
    }

    @Test func rateLimitedRequestsWaitAndRetry() async throws {
        let gateway = try await GatewayProcess.start(environment: ["BULWARK_RATE_TIER_STANDARD_ORDERS": "2/s"])
        defer { gateway.stop() }
        let signer = Ed25519Signer()
        let (_, keyID) = try gateway.trader(signer)
        var patient = try gateway.configuration()
        patient.rateLimitRetries = 10
        let client = try BulwarkClient(patient)
        try await client.connect()
        try await client.login(keyID: keyID, signer: signer)
        var ids = Set<String>()
        for _ in 0..<6 { ids.insert(try #require(try await client.placeLimit("BTC-USD", .buy, qty: "0.01", price: "58000").orderID)) }
        #expect(ids.count == 6)

        var strictConfiguration = try gateway.configuration()
        strictConfiguration.rateLimitRetries = 0
        let strict = try BulwarkClient(strictConfiguration)
        try await strict.connect()
        try await strict.login(keyID: keyID, signer: signer)
        let refused = await #expect(throws: BulwarkError.self) {
            for _ in 0..<6 { _ = try await strict.placeLimit("BTC-USD", .buy, qty: "0.01", price: "58000") }
        }
        #expect(refused?.message == "rate_limited")
        #expect(refused?.data["bucket"]?.stringValue == "orders")
        await client.close()
        await strict.close()
    }

    @Test func oauthClientCredentialsWithDPoPThenBearerLogin() async throws {
        let gateway = try await GatewayProcess.start()
        defer { gateway.stop() }
        let account = try #require(try gateway.cli(["accounts", "create", "--name", "swift-oauth"])["account_id"]?.stringValue)
        let key = Curve25519.Signing.PrivateKey()
        let jwkPath = gateway.data + "/../client.jwk.json"
        let jwk = #"{"kty":"OKP","crv":"Ed25519","x":"\#(Base64URL.encode(key.publicKey.rawRepresentation))","kid":"sw-1"}"#
        try jwk.write(toFile: jwkPath, atomically: true, encoding: .utf8)
        let clientID = try #require(
            try gateway.cli(["oauth", "clients", "create", "--account", account, "--auth", "private_key_jwt", "--jwk", jwkPath, "--scopes", "read"])[
                "client_id"]?.stringValue)
        let configuration = try gateway.configuration(reconnect: false)
        let oauth = try OAuthClient(
            issuer: configuration.endpoint.httpsOrigin, clientID: clientID, clientKey: .ed25519(key), kid: "sw-1", caFile: gateway.caPath)
        let token = try await oauth.token(scope: "read")
        #expect(token.tokenType == "DPoP")

        let client = try BulwarkClient(configuration)
        try await client.connect()
        let result = try await client.login(
            accessToken: token.accessToken, dpop: oauth.webSocketProof(accessToken: token.accessToken, endpoint: configuration.endpoint))
        #expect(result.accountID == account)
        #expect(result.scopes == ["read"])
        await client.close()
        try await oauth.shutdown()
    }

    @Test func plainWebSocketOnLoopbackForDevelopment() async throws {
        let gateway = try await GatewayProcess.start(environment: ["BULWARK_TLS_ENABLED": "false"])
        defer { gateway.stop() }
        let signer = Ed25519Signer()
        let (account, keyID) = try gateway.trader(signer)
        let configuration = try ClientConfiguration(url: "ws://127.0.0.1:\(gateway.port)/ws/v1")
        #expect(!configuration.endpoint.secure)
        let client = try BulwarkClient(configuration)
        try await client.connect()
        #expect(try await client.login(keyID: keyID, signer: signer).accountID == account)
        await client.close()
    }
}
