import BulwarkClient
import BulwarkCore
import BulwarkGateway
import BulwarkStore
import Crypto
import Foundation

/// An account and an Ed25519 API key the load generator logs in with. The key pair is made here,
/// and only its public half is registered in the data folder, as `bulwark keys create` does.
struct BenchIdentity: Sendable {
    let accountID: String
    let keyID: String
    let privateKey: Curve25519.Signing.PrivateKey

    /// The signed `public/auth` request for this connection's challenge (PROTOCOL.md §4.1), built
    /// by the client library's `SignatureLoginRequest`; `cancelOnDisconnect` has the gateway cancel
    /// the session's orders when the connection closes. (The scenarios keep their own event-loop
    /// drivers instead of `BulwarkClient`, so that the load generator's cost per message stays
    /// small and fixed next to the server's: see docs/benchmarks.md.)
    func authRequest(id: Int, challenge: String, cancelOnDisconnect: Bool = false) throws -> String {
        var request = SignatureLoginRequest(keyID: keyID, scopes: ["read", "trade"])
        if cancelOnDisconnect { request.cancelOnDisconnect = ("connection", 0) }
        let params = try request.params(signer: Ed25519Signer(privateKey), challenge: challenge, timestampMs: SystemClock().nowMs())
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("jsonrpc")
        writer.string("2.0")
        writer.key("id")
        writer.int(Int64(id))
        writer.key("method")
        writer.string("public/auth")
        writer.key("params")
        writer.value(.object(params))
        writer.endObject()
        return writer.string
    }

    /// A stand-in for peer servers, which accept any login without checking it.
    static func unregistered() -> BenchIdentity {
        BenchIdentity(accountID: "a_peer", keyID: "k_peer", privateKey: Curve25519.Signing.PrivateKey())
    }
}

/// Creates the accounts and keys a run needs in the gateway's data folder (works while `serve`
/// runs: the gateway picks the rows up from its change feed within a second).
struct BenchProvisioner: Sendable {
    let runLabel = "bench-" + Identifier.random(prefix: "r", bytes: 4)
    private let store: any Store
    private let keys: KeyManagement

    init(dataFolder: String) throws {
        store = try OperatorStore.open(dataFolder)
        keys = KeyManagement(store: store, secretBox: { throw CommandFailure("the load generator registers Ed25519 keys only") })
    }

    /// A funded account on the market-maker tier with one read+trade Ed25519 key.
    func identity(_ role: String) throws -> BenchIdentity {
        let now = SystemClock().nowMs()
        let account = try store.createAccount(name: "\(runLabel)-\(role)", nowMs: now)
        for (asset, amount) in [("USD", "1000000000"), ("BTC", "100000"), ("ETH", "1000000")] {
            try store.deposit(accountID: account.id, asset: asset, amount: FixedDecimal(parsing: amount)!, nowMs: now)
        }
        try store.setAccountTier(id: account.id, .marketMaker, nowMs: now)
        let privateKey = Curve25519.Signing.PrivateKey()
        var request = KeyManagement.Request(accountID: account.id, scopes: "read,trade")
        request.publicKey = Base64URL.encode(Array(privateKey.publicKey.rawRepresentation))
        request.label = runLabel
        let created = try keys.create(request, nowMs: now)
        return BenchIdentity(accountID: account.id, keyID: created.key.id, privateKey: privateKey)
    }
}

/// Demo-market orders the scenarios send (BTC-USD of `DemoMarket`, reference price 60000, house
/// liquidity from 59940 down and 60060 up, a 10 % price collar).
enum DemoOrders {
    static let instrument = "BTC-USD"
    /// Sells the fan-out maker rests; each is 16 BTC (just under the 1,000,000 notional that needs a
    /// TOTP step-up), enough for 160,000 publications.
    static let makerQty = "16"
    static let crossingPrice = "60000"
    static let takerQty = "0.0001"
    /// Resting bids for the order round trip: inside the collar, below every ask, so they never trade.
    static let restingBidPrice = "55000"

    static func place(id: Int, side: String, qty: String, price: String, tif: String, clientOrderID: String) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"private/order.place","params":{"instrument":"\#(instrument)","side":"\#(side)","type":"limit","qty":"\#(qty)","price":"\#(price)","tif":"\#(tif)","client_order_id":"\#(clientOrderID)"}}"#
    }

    static func cancel(id: Int, clientOrderID: String) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"private/order.cancel","params":{"client_order_id":"\#(clientOrderID)"}}"#
    }

    static func subscribe(id: Int) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"subscribe","params":{"channels":["trades.\#(instrument)"]}}"#
    }
}
