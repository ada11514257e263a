import BulwarkCore
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Testing

/// The real `bulwark` binary on an ephemeral port, driven like an operator would (CLI) and a
/// Swift trading client would (NIO WebSocket over TLS, signatures from swift-crypto).
struct GatewayProcess {
    let process: Process
    let data: String
    let port: Int
    var caPath: String { data + "/tls/ca.pem" }

    static let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/bulwark").path

    /// The test run's environment without the test suites' own `BULWARK_TEST_*` variables
    /// (BULWARK_TEST_POSTGRES_URL): the gateway refuses unknown `BULWARK_*` variables.
    static var childEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BULWARK_TEST_") }
    }

    static func start() async throws -> GatewayProcess {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-swift-client-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let ready = root + "/ready"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--data", root + "/data", "--listen", "127.0.0.1:0", "--ready-file", ready]
        process.environment = childEnvironment
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

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

/// A minimal Swift WebSocket client: TLS trusting the development CA, RFC 6455 via NIO, masked frames.
enum SwiftWebSocketClient {
    enum Upgrade: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused
    }

    static func connect(port: Int, caPath: String, group: any EventLoopGroup) async throws -> NIOAsyncChannel<WebSocketFrame, WebSocketFrame> {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
        tls.minimumTLSVersion = .tlsv13
        let context = try NIOSSLContext(configuration: tls)
        let upgrade = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(maxFrameSize: 1 << 16) { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        .websocket(try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel))
                    }
                }
                var headers = HTTPHeaders()
                headers.add(name: "Host", value: "localhost:\(port)")
                headers.add(name: "Sec-WebSocket-Protocol", value: "bulwark.v1")
                var configuration = NIOUpgradableHTTPClientPipelineConfiguration(
                    upgradeConfiguration: NIOTypedHTTPClientUpgradeConfiguration(
                        upgradeRequestHead: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/ws/v1", headers: headers),
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in channel.eventLoop.makeSucceededFuture(.refused) }))
                // The server's hello may share a TCP segment with the 101 response: keep those bytes.
                configuration.leftOverBytesStrategy = .forwardBytes
                return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: configuration)
            }
        }
        guard case .websocket(let channel) = try await upgrade.get() else { throw ClientError("upgrade refused") }
        return channel
    }

    struct ClientError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func text(_ json: String, allocator: ByteBufferAllocator) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: allocator.buffer(string: json))
    }
}

@Suite(.serialized) struct SwiftClientLoginTests {
    /// Logs in with every asymmetric key type, signed by swift-crypto, over a real socket.
    @Test func everyKeyTypeLogsInFromASwiftClient() async throws {
        let gateway = try await GatewayProcess.start()
        defer { gateway.stop() }
        let account = try #require(try gateway.cli(["accounts", "create", "--name", "swift-client"])["account_id"]?.stringValue)

        let ed25519 = Curve25519.Signing.PrivateKey()
        let p256 = P256.Signing.PrivateKey()
        let mlDSA = try MLDSA65.PrivateKey()
        let keys: [(String, [UInt8], @Sendable ([UInt8]) throws -> [UInt8])] = [
            ("ed25519", Array(ed25519.publicKey.rawRepresentation), { Array(try ed25519.signature(for: Data($0))) }),
            ("es256", Array(p256.publicKey.x963Representation), { Array(try p256.signature(for: Data($0)).rawRepresentation) }),
            ("ml-dsa-65", Array(mlDSA.publicKey.rawRepresentation), { Array(try mlDSA.signature(for: Data($0))) }),
        ]
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        for (type, publicKey, sign) in keys {
            let created = try gateway.cli([
                "keys", "create", "--account", account, "--type", type, "--public-key", Base64URL.encode(publicKey), "--scopes", "read",
            ])
            let keyID = try #require(created["key_id"]?.stringValue)
            let channel = try await SwiftWebSocketClient.connect(port: gateway.port, caPath: gateway.caPath, group: group)
            let result = try await channel.executeThenClose { inbound, outbound in
                var frames = inbound.makeAsyncIterator()
                let hello = try StrictJSONParser().parse(try #require(try await frames.next()).unmaskedData.readableBytesView)
                let challenge = try #require(hello.objectValue?["params"]?.objectValue?["challenge"]?.stringValue)
                let nonce = Base64URL.encode(SecureRandom.bytes(count: 16))
                let timestamp = SystemClock().nowMs()
                let text = SigningString(
                    keyID: keyID, challenge: challenge, timestampMs: timestamp, nonce: nonce, scopes: ["read"], keyExchangeHash: nil)
                let signature = Base64URL.encode(try sign(text.bytes))
                let request = #"{"jsonrpc":"2.0","id":1,"method":"public/auth","params":{"grant_type":"signature","key_id":"\#(keyID)","timestamp_ms":\#(timestamp),"nonce":"\#(nonce)","scopes":["read"],"signature":"\#(signature)"}}"#
                try await outbound.write(SwiftWebSocketClient.text(request, allocator: channel.channel.allocator))
                let reply = try StrictJSONParser().parse(try #require(try await frames.next()).unmaskedData.readableBytesView)
                return reply.objectValue?["result"]?.objectValue
            }
            #expect(result?["account_id"]?.stringValue == account, "\(type)")
            #expect(result?["scopes"]?.arrayValue?.compactMap(\.stringValue) == ["read"], "\(type)")
        }
        try await group.shutdownGracefully()
    }
}
