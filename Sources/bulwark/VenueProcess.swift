import ArgumentParser
import BulwarkGateway
import BulwarkVenueRPC
import Foundation

struct VenueProcess: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "venue",
        abstract: "Run the built-in venue as its own process, served over gRPC to gateways (`serve --venue grpc://HOST:PORT`).")

    @Option(name: .long, help: "gRPC listener HOST:PORT (default 127.0.0.1:9443; port 0 picks a free one). Plaintext: keep it on loopback or a private network.")
    var listen = "127.0.0.1:9443"

    @Option(name: .long, help: "Data folder for the venue's journal (default ./.bulwark-venue).")
    var data: String?

    @Flag(name: .long, help: "Seed the demo market's house liquidity and run the liquidity simulator (demo.liquidity_interval_ms).")
    var demo = false

    @Option(name: .long, help: "Events kept for gateways that reconnect (beyond them a gateway starts from fresh books).")
    var replayEvents = 100_000

    @Option(name: .long, help: "JSON configuration file (venue.*, market.book_depth, demo.liquidity_interval_ms, log.format); BULWARK_* variables override it.")
    var config: String?

    @Option(name: .long, help: "Write the bound address (HOST:PORT) to this file once listening; for scripts using port 0.")
    var readyFile: String?

    @Option(name: .long, help: "TLS: the venue's certificate chain (PEM); gateways then use grpcs://. Needs --tls-key.")
    var tlsCert: String?

    @Option(name: .long, help: "TLS: the private key (PEM) of --tls-cert.")
    var tlsKey: String?

    @Option(name: .long, help: "Mutual TLS: only gateways with a client certificate from this CA (PEM) may connect. Needs --tls-cert.")
    var clientCA: String?

    func run() async throws {
        var overrides: [String: String] = ["data": data ?? ".bulwark-venue"]
        overrides["venue.url"] = ""
        let configuration: GatewayConfiguration
        do {
            configuration = try GatewayConfiguration.load(file: config, environment: Environment.all, overrides: overrides)
        } catch {
            throw CommandFailure("configuration: \(error)")
        }
        let (host, port) = try Self.hostPort(listen)
        guard replayEvents >= 1 else { throw CommandFailure("--replay-events must be at least 1") }
        var tls: VenueServerTLS?
        switch (tlsCert, tlsKey) {
        case (let cert?, let key?): tls = VenueServerTLS(certificateChainFile: cert, privateKeyFile: key, clientCAFile: clientCA)
        case (nil, nil): guard clientCA == nil else { throw CommandFailure("--client-ca needs --tls-cert and --tls-key") }
        default: throw CommandFailure("--tls-cert and --tls-key go together")
        }
        try await VenueProcessRunner(
            configuration: configuration, host: host, port: port, demo: demo, replayEvents: replayEvents, readyFile: readyFile, tls: tls
        ).run()
    }

    static func hostPort(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw CommandFailure("--listen must be HOST:PORT (got \(text))")
        }
        var host = text[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty else { throw CommandFailure("--listen must be HOST:PORT (got \(text))") }
        return (String(host), port)
    }
}
