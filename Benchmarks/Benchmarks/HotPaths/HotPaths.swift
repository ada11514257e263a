import Benchmark
import BulwarkAuth
import BulwarkCore
import BulwarkGateway
import BulwarkStore
import BulwarkVenue
import Crypto
import Foundation
import NIOCore
import NIOEmbedded
import NIOWebSocket
import _CryptoExtras

/// The gateway's per-message and per-login hot paths, one benchmark each (docs/benchmarks.md).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal], warmupIterations: 100, maxDuration: .seconds(3), maxIterations: 100_000)

    // MARK: RFC 6455 frames (NIO's encoder and decoder, as the gateway's pipeline runs them)

    Benchmark("frame encode (server, 128 B text)") { benchmark in
        let channel = EmbeddedChannel(handler: WebSocketFrameEncoder())
        let payload = ByteBuffer(repeating: 0x61, count: 128)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try? channel.writeOutbound(WebSocketFrame(fin: true, opcode: .text, data: payload))
            blackHole(try? channel.readOutbound(as: ByteBuffer.self))
        }
    }

    Benchmark("frame decode (client-masked, 128 B text)") { benchmark in
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 16)))
        let encoder = EmbeddedChannel(handler: WebSocketFrameEncoder())
        try? encoder.writeOutbound(
            WebSocketFrame(fin: true, opcode: .text, maskKey: WebSocketMaskingKey([1, 2, 3, 4]), data: ByteBuffer(repeating: 0x61, count: 128)))
        var wire = ByteBuffer()
        while let part = try? encoder.readOutbound(as: ByteBuffer.self) { wire.writeImmutableBuffer(part) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try? channel.writeInbound(wire)
            blackHole(try? channel.readInbound(as: WebSocketFrame.self))
        }
    }

    // MARK: JSON-RPC: strict parse, envelope, order.place parameter rules

    Benchmark("order.place decode + validate") { benchmark in
        let text = Array(
            #"{"jsonrpc":"2.0","id":42,"method":"private/order.place","params":{"instrument":"BTC-USD","side":"buy","type":"limit","qty":"0.0001","price":"55000","tif":"gtc","client_order_id":"bench-000042"}}"#
                .utf8)
        for _ in benchmark.scaledIterations {
            let value = try! StrictJSONParser().parse(text)
            let request = try! RPCRequestDecoder.decode(value)
            blackHole(try! OrderPlaceParsing.parse(request.params, accountID: "a_bench", keyID: "k_bench"))
        }
    }

    // MARK: Rate limiting

    Benchmark("GCRA check") { benchmark in
        var state = GCRAState()
        let limit = RateLimit.perSecond(1_000_000_000)
        var now: Int64 = 1_700_000_000_000
        for _ in benchmark.scaledIterations {
            now &+= 1
            blackHole(state.charge(1, limit: limit, nowMs: now))
        }
    }

    // MARK: Login signatures (the signing string of PROTOCOL.md §4.1)

    let message = SigningString(
        keyID: "k_0123456789abcdef", challenge: Base64URL.encode(Array(repeating: 7, count: 32)), timestampMs: 1_732_300_000_000,
        nonce: Base64URL.encode(Array(repeating: 9, count: 16)), scopes: ["read", "trade"], keyExchangeHash: nil
    ).bytes

    Benchmark("Ed25519 verify") { benchmark in
        let key = Curve25519.Signing.PrivateKey()
        let signature = Array(try! key.signature(for: message))
        let publicKey = Array(key.publicKey.rawRepresentation)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(SignatureVerifier.isValid(signature: signature, message: message, algorithm: .ed25519, publicKey: publicKey))
        }
    }

    Benchmark("ML-DSA-65 verify") { benchmark in
        let key = try! MLDSA65.PrivateKey()
        let signature = Array(try! key.signature(for: message))
        let publicKey = Array(key.publicKey.rawRepresentation)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(SignatureVerifier.isValid(signature: signature, message: message, algorithm: .mlDSA65, publicKey: publicKey))
        }
    }

    Benchmark("HMAC-SHA256 verify (secret unsealed per login)") { benchmark in
        let box = try! SecretBox(masterKey: Array(repeating: 3, count: 32))
        let secret = Array(repeating: UInt8(5), count: 32)
        let sealed = try! box.seal(secret, boundTo: "k_bench")
        let signature = Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let opened = try! box.open(sealed, boundTo: "k_bench")
            let expected = Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: opened)))
            blackHole(ConstantTime.equals(expected, signature))
        }
    }

    // MARK: Sealed frames (PROTOCOL.md §5): the client seals, the server opens

    for mode in [SealedFrameMode.mac, .aead] {
        Benchmark("sealed frame seal + open (\(mode), 128 B)") { benchmark in
            let keys = SessionKeys(clientToServer: SymmetricKey(size: .bits256), serverToClient: SymmetricKey(size: .bits256))
            var client = SealedChannel(clientSideOf: keys)
            var server = SealedChannel(serverSideOf: keys)
            let payload = Array(repeating: UInt8(0x61), count: 128)
            for _ in benchmark.scaledIterations {
                blackHole(try! server.open(client.seal(payload, mode: mode)))
            }
        }
    }

    // MARK: Matching: one crossing order against a deep book, one resting order beside many

    // The framework calls a benchmark's closure once per sample, and what the closure leaves
    // behind is destroyed before the sample ends: a book built inside it would be rebuilt for
    // every sample and its teardown (about 1–2 ms for 20,000 orders) measured as if it were the
    // match. So the book is built once, shared, and topped up outside the measurement.
    let deepBook = DeepBook(restingOrders: 20_000)

    Benchmark("match an IOC buy against a 20,000-order book", configuration: .init(maxIterations: 15_000)) { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(deepBook.takeOne()) }
        benchmark.stopMeasurement()
        deepBook.replenish()
    }

    Benchmark("rest a limit order for an account with 20,000 resting", configuration: .init(maxIterations: 15_000)) { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(deepBook.restOne()) }
        benchmark.stopMeasurement()
        deepBook.cancelRested()
    }

    // MARK: Audit: one hash-chained record appended in its own SQLite transaction

    Benchmark("audit append (one record, one transaction)", configuration: .init(maxDuration: .seconds(3), maxIterations: 5_000)) { benchmark in
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-bench-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try! SQLiteStore(path: folder.appendingPathComponent("bench.sqlite").path)
        var time: Int64 = 1_700_000_000_000_000
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            time += 1
            blackHole(
                try! store.appendAudit([
                    AuditEntry(
                        timeUs: time, event: "order.placed", actor: "a_bench", credentialID: "k_bench", clientIP: "127.0.0.1", outcome: .success,
                        details: ["order_id": "o_\(time)", "instrument": "BTC-USD"])
                ]))
        }
    }
}

/// A BTC-USD book with `restingOrders` sells of one lot from one maker account (ten per level, 0.5
/// apart from 60000.5 up), and a taker funded to buy. Not thread-safe: the benchmarks run one at a
/// time on one thread.
final class DeepBook {
    private var engine = MatchingEngine(instruments: DemoMarket.instruments)
    private let lot = FixedDecimal(parsing: "0.0001")!
    private var sequence = 0
    private var taken: [FixedDecimal] = []
    private var rested: [String] = []

    init(restingOrders: Int) {
        _ = engine.deposit(accountID: "maker", asset: "BTC", amount: FixedDecimal(parsing: "1000")!)
        _ = engine.deposit(accountID: "taker", asset: "USD", amount: FixedDecimal(parsing: "100000000")!)
        let step = FixedDecimal(parsing: "0.5")!.units
        for index in 0..<restingOrders {
            rest(at: FixedDecimal(parsing: "60000")! + FixedDecimal(units: step * Int128(1 + index / 10)))
        }
    }

    private func nextID(_ prefix: String) -> String {
        sequence += 1
        return "\(prefix)\(sequence)"
    }

    @discardableResult
    private func rest(at price: FixedDecimal) -> Result<PlaceOutcome, OrderRejection> {
        engine.place(
            OrderRequest(
                accountID: "maker", instrument: "BTC-USD", side: .sell, type: .limit, qty: lot, price: price, timeInForce: .gtc,
                clientOrderID: nextID("m")), nowMs: 1)
    }

    /// One IOC buy of one lot: one fill against the best ask.
    func takeOne() -> Result<PlaceOutcome, OrderRejection> {
        let result = engine.place(
            OrderRequest(
                accountID: "taker", instrument: "BTC-USD", side: .buy, type: .limit, qty: lot, price: FixedDecimal(parsing: "61000")!,
                timeInForce: .ioc, clientOrderID: nextID("t")), nowMs: 2)
        if case .success(let outcome) = result, let trade = outcome.trades.first { taken.append(trade.price) }
        return result
    }

    /// Puts back what `takeOne` took, so every sample matches against the same depth.
    func replenish() {
        for price in taken { rest(at: price) }
        taken.removeAll(keepingCapacity: true)
    }

    /// One more resting sell from the maker (above the rest of the book, so it never trades).
    func restOne() -> Result<PlaceOutcome, OrderRejection> {
        let result = rest(at: FixedDecimal(parsing: "62000")!)
        if case .success(let outcome) = result { rested.append(outcome.order.orderID) }
        return result
    }

    /// Cancels what `restOne` rested, so the maker's count stays where it was.
    func cancelRested() {
        for orderID in rested { _ = engine.cancel(accountID: "maker", orderID: orderID, nowMs: 3) }
        rested.removeAll(keepingCapacity: true)
    }
}
