import BulwarkClient
import BulwarkCore
import Foundation
import Testing

/// The real `bulwark` binary on an ephemeral port, driven like an operator would (CLI) and a
/// Swift trading program would (this library).
struct GatewayProcess {
    let process: Process
    let data: String
    let port: Int
    var caPath: String { data + "/tls/ca.pem" }
    var url: String { "wss://127.0.0.1:\(port)/ws/v1" }

    static let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/bulwark").path

    /// Generous limits except where a test narrows one; login throttling off for negative tests.
    static let testEnvironment = [
        "BULWARK_AUTH_THROTTLE_IP_FREE_FAILURES": "1000",
        "BULWARK_RATE_IP_HANDSHAKES": "100000/s",
        "BULWARK_RATE_IP_CONNECTIONS": "100000/s",
        "BULWARK_RATE_IP_LOGINS": "100000/s",
    ]

    /// The test run's environment without the test suites' own `BULWARK_TEST_*` variables
    /// (BULWARK_TEST_POSTGRES_URL): the gateway refuses unknown `BULWARK_*` variables.
    static var childEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BULWARK_TEST_") }
    }

    static func start(environment: [String: String] = [:]) async throws -> GatewayProcess {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-swift-client-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let ready = root + "/ready"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--data", root + "/data", "--listen", "127.0.0.1:0", "--ready-file", ready]
        process.environment = childEnvironment.merging(testEnvironment.merging(environment) { $1 }) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: ready) {
            try await Task.sleep(for: .milliseconds(50))
        }
        let address = try String(contentsOfFile: ready, encoding: .utf8).split(separator: "\n")[0]
        return GatewayProcess(process: process, data: root + "/data", port: Int(address.split(separator: ":").last!)!)
    }

    /// Runs an operator command with --json and returns its result object.
    func cli(_ arguments: [String]) throws -> JSONObject {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments + ["--data", data, "--json"]
        process.environment = Self.childEnvironment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return try #require(try StrictJSONParser().parse(Array(output)).objectValue)
    }

    /// A funded account with one key of `signer`'s type; returns (account id, key id).
    func trader(_ signer: any RequestSigner, fund: String = "USD=1000000,BTC=10,ETH=100", scopes: String = "read,trade", sealed: String = "none")
        throws -> (account: String, key: String)
    {
        let account = try #require(try cli(["accounts", "create", "--name", "swift-\(UUID().uuidString.prefix(8))", "--fund", fund])["account_id"]?.stringValue)
        let publicKey = try #require(signer.publicKey)
        let key = try #require(
            try cli([
                "keys", "create", "--account", account, "--type", signer.keyType.rawValue, "--public-key", Base64URL.encode(publicKey),
                "--scopes", scopes, "--sealed", sealed,
            ])["key_id"]?.stringValue)
        return (account, key)
    }

    /// The gateway identity key clients pin for session keys.
    func identity() throws -> String {
        try #require(try cli(["identity"])["ed25519"]?.stringValue)
    }

    func configuration(reconnect: Bool = true) throws -> ClientConfiguration {
        var configuration = try ClientConfiguration(url: url, caFile: caPath, identity: try identity())
        configuration.reconnect = reconnect
        return configuration
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

/// Everything a client reports, collected for assertions (its `events` has one consumer: this).
actor EventLog {
    private(set) var events: [ClientEvent] = []

    static func attach(to client: BulwarkClient) -> EventLog {
        let log = EventLog()
        Task {
            for await event in client.events { await log.append(event) }
        }
        return log
    }

    private func append(_ event: ClientEvent) { events.append(event) }

    /// Channel messages on `channel`, in arrival order.
    func messages(on channel: String) -> [ChannelMessage] {
        events.compactMap {
            if case .message(let message) = $0, message.channel == channel { return message }
            return nil
        }
    }

    func notifications(_ method: String) -> [JSONObject] {
        events.compactMap {
            if case .notification(let name, let params) = $0, name == method { return params }
            return nil
        }
    }

    func disconnectCodes() -> [UInt16?] {
        events.compactMap {
            if case .disconnected(let code, _) = $0 { return .some(code) }
            return nil
        }
    }
}

/// Waits until `condition` holds (polling); fails the test after `seconds`. A deadline for a
/// condition, never an assertion about how long something took.
func until(_ what: String, seconds: Double = 20, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while try await !condition() {
        if Date() > deadline {
            Issue.record("timed out waiting for \(what)")
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}
