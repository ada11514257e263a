import ArgumentParser
import BulwarkGateway
import Foundation

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway (creates the data folder on the first run).")

    @Option(name: .long, help: "Data folder (default ./.bulwark).")
    var data: String?

    @Option(name: .long, help: "Public listener HOST:PORT (default 127.0.0.1:8443; port 0 picks a free one).")
    var listen: String?

    @Option(name: .long, help: "Admin listener HOST:PORT (/admin/v1 over mutual TLS; needs admin.client_ca_file).")
    var adminListen: String?

    @Option(name: .long, help: "JSON configuration file; BULWARK_* environment variables override it, flags override both.")
    var config: String?

    @Option(name: .long, help: "Use the venue process at grpc://HOST:PORT or grpcs://HOST:PORT (`bulwark venue`) instead of the built-in venue.")
    var venue: String?

    @Flag(name: .long, help: "Serve plain ws:// (refused unless listening on loopback).")
    var insecurePlaintext = false

    @Option(name: .long, help: "Write the bound address (HOST:PORT) to this file once listening; for scripts using port 0.")
    var readyFile: String?

    func run() async throws {
        var overrides: [String: String] = [:]
        if let data { overrides["data"] = data }
        if let listen { overrides["listen"] = listen }
        if let adminListen { overrides["admin.listen"] = adminListen }
        if let venue { overrides["venue.url"] = venue }
        if insecurePlaintext { overrides["tls.enabled"] = "false" }
        let configuration: GatewayConfiguration
        do {
            configuration = try GatewayConfiguration.load(file: config, environment: Environment.all, overrides: overrides)
        } catch {
            throw CommandFailure("configuration: \(error)")
        }
        try await GatewayRunner(configuration: configuration, readyFile: readyFile).run()
    }
}
