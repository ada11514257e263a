import BulwarkClient

/// The example of docs/clients.md, kept here so that it always compiles (it is never run: it needs
/// a key file and a gateway). Keep the two in step.
func documentationExample() async throws {
    let configuration = try ClientConfiguration(
        url: "wss://127.0.0.1:8443/ws/v1", caFile: ".bulwark/tls/ca.pem",
        identity: "<bulwark identity>")                                   // pins the gateway for session keys
    let client = try BulwarkClient(configuration)
    try await client.connect()                                            // hello, and the clock offset (public/time)
    try await client.login(keyID: "k_…", signer: try Ed25519Signer(pemFile: "alice.pem"),
                           scopes: ["read", "trade"],
                           sessionKeys: SessionKeyOptions(mode: .aead, hybrid: true))  // X25519 + ML-KEM-768, sealed private requests
    try await client.subscribe(["book.BTC-USD", "fills"])                 // books rebuilt in client.books["BTC-USD"]
    let order = try await client.placeLimit("BTC-USD", .buy, qty: "0.01", price: "60000")  // client_order_id generated
    print(order.orderID ?? "unknown outcome: place the same client_order_id again")
    for await event in client.events {
        switch event {
        case .book(let book): print("best bid", book.bestBid?.price as Any, "best ask", book.bestAsk?.price as Any)
        case .message(let message) where message.channel == "fills": print("fill", message.data)
        case .sessionEnded(let reason): print("session over:", reason)
        default: break
        }
    }
}
