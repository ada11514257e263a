import BulwarkAuth
@testable import BulwarkClient
import BulwarkCore
import Crypto
import Foundation
import Testing

/// The client's pure parts, with injected randomness and time: no sockets, no clocks.
struct ReconnectBackoffTests {
    @Test func doublesUpToTheCapWithJitterAroundTheBase() {
        var backoff = ReconnectBackoff(initialMs: 100, maxMs: 1000)
        #expect((0..<6).map { _ in backoff.nextDelayMs(unitRandom: 0.5) } == [100, 200, 400, 800, 1000, 1000])
        backoff.reset()
        #expect(backoff.nextDelayMs(unitRandom: 0) == 50)
        #expect(backoff.nextDelayMs(unitRandom: 0.999) == 300)
        // Out-of-range randomness is clamped: the delay stays within [0.5, 1.5] of the base.
        #expect(backoff.nextDelayMs(unitRandom: 7) == 600)
    }

    @Test func nonsenseSettingsStillGiveAPositiveSchedule() {
        var backoff = ReconnectBackoff(initialMs: 0, maxMs: -5)
        #expect(backoff.nextDelayMs(unitRandom: 0.5) == 1)
        #expect(backoff.nextDelayMs(unitRandom: 0.5) == 1)
    }
}

struct SequenceTrackerTests {
    @Test func publicChannelsReportGapsPerChannel() {
        var tracker = SequenceTracker()
        #expect(tracker.observe(channel: "trades.BTC-USD", seq: 7, privateSeq: nil) == .inOrder)
        #expect(tracker.observe(channel: "trades.BTC-USD", seq: 8, privateSeq: nil) == .inOrder)
        #expect(tracker.observe(channel: "ticker.BTC-USD", seq: 1, privateSeq: nil) == .inOrder)
        #expect(tracker.observe(channel: "trades.BTC-USD", seq: 11, privateSeq: nil) == .gap(expected: 9, got: 11))
        #expect(tracker.observe(channel: "trades.BTC-USD", seq: 12, privateSeq: nil) == .inOrder)
        #expect(tracker.gaps == 1)
        tracker.reset(channel: "trades.BTC-USD")
        #expect(tracker.observe(channel: "trades.BTC-USD", seq: 40, privateSeq: nil) == .inOrder)
    }

    @Test func privateEventsAreDeliveredOnceAcrossAReplay() {
        var tracker = SequenceTracker()
        tracker.raisePrivateSeq(to: 10)
        #expect(tracker.observe(channel: "orders", seq: 1, privateSeq: 11) == .inOrder)
        #expect(tracker.observe(channel: "fills", seq: 1, privateSeq: 13) == .inOrder)  // 12 went to a channel we do not follow
        // A resume replays from last_private_seq: what was seen is dropped.
        #expect(tracker.observe(channel: "orders", seq: 1, privateSeq: 11) == .duplicate)
        #expect(tracker.observe(channel: "fills", seq: 1, privateSeq: 13) == .duplicate)
        #expect(tracker.observe(channel: "orders", seq: 2, privateSeq: 14) == .inOrder)
        #expect(tracker.lastPrivateSeq == 14)
        #expect(tracker.gaps == 0)
    }
}

struct OrderBookTests {
    private func object(_ json: String) throws -> JSONObject {
        try #require(try StrictJSONParser().parse(json).objectValue)
    }

    private func decimal(_ text: String) -> FixedDecimal { FixedDecimal(parsing: text)! }

    @Test func snapshotThenDeltasWithAbsoluteQuantities() throws {
        var book = OrderBook(instrument: "BTC-USD")
        #expect(book.apply(data: try object(#"{"type":"delta","bids":[["1","1"]],"asks":[]}"#), seq: 4, prevSeq: 3) == .ignored)
        let snapshot = #"{"type":"snapshot","bids":[["59940","2"],["59930","1.5"]],"asks":[["60060","3"]]}"#
        #expect(book.apply(data: try object(snapshot), seq: 10, prevSeq: nil) == .applied)
        #expect(book.isSynced && book.seq == 10)
        let delta = #"{"type":"delta","bids":[["59940","0"],["59950","0.25"]],"asks":[["60060","2.5"],["60070","1"]]}"#
        #expect(book.apply(data: try object(delta), seq: 11, prevSeq: 10) == .applied)
        #expect(book.bestBid?.price == decimal("59950") && book.bestBid?.qty == decimal("0.25"))
        #expect(book.bestAsk?.price == decimal("60060") && book.bestAsk?.qty == decimal("2.5"))
        #expect(book.levels(.buy).map(\.price) == [decimal("59950"), decimal("59930")])
        #expect(book.levels(.sell, depth: 1).map(\.price) == [decimal("60060")])
        // An empty delta (only deeper levels changed) still advances the sequence.
        #expect(book.apply(data: try object(#"{"type":"delta","bids":[],"asks":[]}"#), seq: 12, prevSeq: 11) == .applied)
        #expect(book.seq == 12)
    }

    @Test func aMissedDeltaIsAGapUntilTheNextSnapshot() throws {
        var book = OrderBook(instrument: "ETH-USD")
        _ = book.apply(data: try object(#"{"type":"snapshot","bids":[["10","1"]],"asks":[]}"#), seq: 5, prevSeq: nil)
        #expect(book.apply(data: try object(#"{"type":"delta","bids":[["11","1"]],"asks":[]}"#), seq: 7, prevSeq: 6) == .gap(expectedPrevSeq: 5, got: 6))
        #expect(!book.isSynced)
        #expect(book.apply(data: try object(#"{"type":"delta","bids":[["12","1"]],"asks":[]}"#), seq: 8, prevSeq: 7) == .ignored)
        #expect(book.apply(data: try object(#"{"type":"snapshot","bids":[["11","1"]],"asks":[]}"#), seq: 8, prevSeq: nil) == .applied)
        #expect(book.isSynced && book.bids == [decimal("11"): decimal("1")])
    }

    @Test func unreadableLevelsAreRefused() throws {
        var book = OrderBook(instrument: "ETH-USD")
        #expect(book.apply(data: try object(#"{"type":"snapshot","bids":[[1,1]],"asks":[]}"#), seq: 1, prevSeq: nil) == .malformed)
        #expect(!book.isSynced)
    }
}

struct ClockSkewTests {
    @Test func theMidpointOfTheRoundTripIsTheEstimate() {
        let skew = ClockSkew(sentMs: 1_000, serverMs: 6_000, receivedMs: 1_100)
        #expect(skew.offsetMs == 4_950)
        #expect(skew.uncertaintyMs == 50)
        #expect(skew.exceeds(4_000))
        #expect(!skew.exceeds(4_900))
        #expect(ClockSkew(sentMs: 1_000, serverMs: 900, receivedMs: 1_000).offsetMs == -100)
    }
}

struct OrderHelperTests {
    @Test func clientOrderIDsAreFreshAndValid() {
        let ids = (0..<100).map { _ in ClientOrderID.generate() }
        #expect(Set(ids).count == 100)
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        #expect(ids.allSatisfy { (1...36).contains($0.count) && $0.allSatisfy(allowed.contains) })
        #expect(ClientOrderID.generate(prefix: String(repeating: "p", count: 40)).count == 36)
    }

    @Test func orderParamsAreTheProtocolsMembers() {
        var request = OrderRequest.limit("BTC-USD", .sell, qty: "0.5", price: "60000.5", tif: "post_only", clientOrderID: "bot-42")
        request.deadlineMs = 1_732_300_005_000
        #expect(
            JSONWriter.encodeText(.object(request.params))
                == #"{"instrument":"BTC-USD","side":"sell","type":"limit","qty":"0.5","price":"60000.5","tif":"post_only","client_order_id":"bot-42","deadline_ms":1732300005000}"#)
        let market = OrderRequest.market("ETH-USD", .buy, qty: "1", clientOrderID: "m-1")
        #expect(JSONWriter.encodeText(.object(market.params)) == #"{"instrument":"ETH-USD","side":"buy","type":"market","qty":"1","tif":"ioc","client_order_id":"m-1"}"#)
    }
}

struct SignerTests {
    @Test func anEd25519PKCS8PemFileIsRead() throws {
        let seed = (0..<32).map { UInt8($0 + 1) }
        let der: [UInt8] = [0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20] + seed
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("client-\(UUID().uuidString).pem").path
        try "-----BEGIN PRIVATE KEY-----\n\(Data(der).base64EncodedString())\n-----END PRIVATE KEY-----\n".write(toFile: path, atomically: true, encoding: .utf8)
        let signer = try Ed25519Signer(pemFile: path)
        #expect(signer.publicKey == Array(try Curve25519.Signing.PrivateKey(rawRepresentation: seed).publicKey.rawRepresentation))
        try "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try Ed25519Signer(pemFile: path) }
    }

    @Test func hmacSecretsMustBe32Bytes() {
        #expect(throws: (any Error).self) { try HMACSigner(secret: Base64URL.encode([UInt8](repeating: 1, count: 16))) }
        #expect(throws: Never.self) { try HMACSigner(secret: Base64URL.encode([UInt8](repeating: 1, count: 32))) }
    }
}

/// The published vectors (docs/protocol.md §4, docs/vectors/session-keys.json) reproduced by the
/// client's code paths.
struct ClientVectorTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    @Test func theSignatureGrantVectorIsReproduced() throws {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: hex("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"))
        let request = SignatureLoginRequest(keyID: "k_TESTVECTOR0000", scopes: ["trade", "read"])
        let params = try request.params(
            signer: Ed25519Signer(key), challenge: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", timestampMs: 1_732_300_000_000,
            nonce: "oKGio6SlpqeoqaqrrK2urw")
        #expect(params["signature"]?.stringValue == "XFOOwDBvSoDoI0AeIYSVetgeuHPhSL4MDNhs3bmpyh5b_Z5ovRhzSMRj5qugzX3TQ0pYQlJ2s5wuK6w58cBEBw")
        #expect(params.keys == ["grant_type", "key_id", "timestamp_ms", "nonce", "scopes", "signature"])
        #expect(params["scopes"]?.arrayValue?.compactMap(\.stringValue) == ["trade", "read"])
    }

    @Test(arguments: [0, 1]) func sessionKeyVectorsAreDerivedByTheClientSide(index: Int) throws {
        let document = try Data(contentsOf: Self.root.appendingPathComponent("docs/vectors/session-keys.json"))
        let vector = try need(try StrictJSONParser(limits: JSONParserLimits(maxStringBytes: 1 << 14)).parse(Array(document)).arrayValue?[index].objectValue)
        func text(_ name: String) throws -> String { try need(vector[name]?.stringValue) }
        let mlkem = try vector["client_mlkem768_seed_hex"]?.stringValue.map { try MLKEM768.PrivateKey(seedRepresentation: hex($0), publicKey: nil) }
        let client = KeyExchangeClient(
            x25519: try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: hex(try text("client_x25519_private_hex"))), mlkem: mlkem)
        #expect(client.offer.hash == (try text("kx_hash")))
        let identity = try Curve25519.Signing.PublicKey(rawRepresentation: try need(Base64URL.decode(try text("identity_public"))))
        let keys = try client.finish(
            serverX25519: try need(Base64URL.decode(try text("server_x25519_public"))),
            ciphertext: try vector["mlkem768_ct"]?.stringValue.map { try need(Base64URL.decode($0)) },
            signature: try need(Base64URL.decode(try text("kx_sig"))), challenge: try text("challenge"), sessionID: try text("session_id"),
            identity: identity)
        #expect(keys.clientToServer.withUnsafeBytes { Array($0) } == hex(try text("k_c2s_hex")))
        #expect(keys.serverToClient.withUnsafeBytes { Array($0) } == hex(try text("k_s2c_hex")))
        var channel = SealedChannel(clientSideOf: keys)
        for frame in try need(vector["frames"]?.arrayValue?.compactMap(\.objectValue)) {
            let mode = try need(SealedFrameMode(rawValue: UInt8(try need(frame["mode"]?.int64Value))))
            let sealed = channel.seal(Array(try need(frame["payload"]?.stringValue).utf8), mode: mode)
            #expect(sealed == hex(try need(frame["frame_hex"]?.stringValue)))
        }
        // Another identity's signature over the same exchange is refused.
        #expect(throws: KeyExchangeClient.Failure.identityMismatch) {
            _ = try client.finish(
                serverX25519: try need(Base64URL.decode(try text("server_x25519_public"))),
                ciphertext: try vector["mlkem768_ct"]?.stringValue.map { try need(Base64URL.decode($0)) },
                signature: try need(Base64URL.decode(try text("kx_sig"))), challenge: try text("challenge"),
                sessionID: try text("session_id"), identity: Curve25519.Signing.PrivateKey().publicKey)
        }
    }
}

struct Missing: Error {}

/// `#require` for use inside expressions (the macro cannot nest).
func need<T>(_ value: T?) throws -> T {
    guard let value else { throw Missing() }
    return value
}
