@testable import BulwarkGateway
import NIOHTTP1
import Testing

@Suite struct UpgradePolicyTests {
    let policy = UpgradePolicy(path: "/ws/v1", allowedOrigins: ["https://app.example.com"])

    func head(_ uri: String = "/ws/v1", _ headers: [(String, String)] = [("Sec-WebSocket-Version", "13")]) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: HTTPHeaders(headers))
    }

    @Test func acceptsAndNegotiatesTheSubprotocol() {
        #expect(policy.evaluate(head()) == .accept(subprotocol: nil))
        #expect(policy.evaluate(head("/ws/v1", [("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Protocol", "foo, bulwark.v1")])) == .accept(subprotocol: "bulwark.v1"))
    }

    @Test func versionOtherThan13Is426() {
        #expect(policy.evaluate(head("/ws/v1", [("Sec-WebSocket-Version", "8")])) == .refuse(.upgradeRequired, reason: "unsupported_version"))
    }

    @Test func originMustMatchExactly() {
        let allowed = head("/ws/v1", [("Sec-WebSocket-Version", "13"), ("Origin", "https://app.example.com")])
        #expect(policy.evaluate(allowed) == .accept(subprotocol: nil))
        for origin in ["https://app.example.com.evil.com", "https://evil.com", "http://app.example.com", "https://app.example.co", "null"] {
            let refused = head("/ws/v1", [("Sec-WebSocket-Version", "13"), ("Origin", origin)])
            #expect(policy.evaluate(refused) == .refuse(.forbidden, reason: "origin_not_allowed"), "\(origin)")
        }
    }

    @Test func theConformanceEchoExistsOnlyWhenEnabled() {
        let offered = [("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Protocol", "bulwark.v1")]
        #expect(policy.evaluate(head("/ws/echo", offered)) == .refuse(.notFound, reason: "not_found"))
        let withEcho = UpgradePolicy(path: "/ws/v1", allowedOrigins: [], echoPath: "/ws/echo")
        #expect(withEcho.evaluate(head("/ws/echo", offered)) == .accept(subprotocol: nil))
        #expect(withEcho.endpoint(for: "/ws/echo") == .conformanceEcho && withEcho.endpoint(for: "/ws/v1") == .rpc)
    }

    @Test func credentialsNeverInTheURL() {
        #expect(policy.evaluate(head("/ws/v1?token=abc")) == .refuse(.badRequest, reason: "query_not_allowed"))
        #expect(policy.evaluate(head("/other")) == .refuse(.notFound, reason: "not_found"))
    }
}

@Suite struct GatewayConfigurationTests {
    @Test func defaultsAreTheDocumentedOnes() throws {
        let configuration = try GatewayConfiguration.load(file: nil, environment: [:])
        #expect(configuration.listenHost == "127.0.0.1" && configuration.listenPort == 8443)
        #expect(configuration.dataDirectory == ".bulwark")
        #expect(configuration.tlsEnabled && configuration.tlsMinimumVersion == .tls13)
        #expect(configuration.limits.maxMessageBytes == 65536)
        #expect(configuration.recvWindowMs == 5000)
        for spec in SettingCatalogue.all { #expect(!spec.help.isEmpty) }
    }

    @Test func precedenceIsFlagsThenEnvironmentThenFile() throws {
        let file = FileManagerTemp.write(#"{"listen":"127.0.0.1:1000","ws":{"max_subscriptions":5},"auth":{"recv_window_ms":7000}}"#)
        let configuration = try GatewayConfiguration.load(
            file: file, environment: ["BULWARK_WS_MAX_SUBSCRIPTIONS": "9", "PATH": "/bin"], overrides: ["listen": "127.0.0.1:2000"])
        #expect(configuration.listenPort == 2000)
        #expect(configuration.limits.maxSubscriptions == 9)
        #expect(configuration.recvWindowMs == 7000)
    }

    @Test func typosAndBadValuesAreStartupErrors() {
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.load(file: nil, environment: ["BULWARK_LISTN": "x"]) }
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.load(file: nil, environment: ["BULWARK_WS_MAX_SUBSCRIPTIONS": "many"]) }
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.load(file: FileManagerTemp.write(#"{"ws":{"max_subscriptionz":1}}"#), environment: [:]) }
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.load(file: FileManagerTemp.write(#"{"listen":"a","listen":"b"}"#), environment: [:]) }
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.load(file: nil, environment: ["BULWARK_AUTH_RECV_WINDOW_MS": "60001"]) }
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.load(file: nil, environment: [:], overrides: ["tls.min_version": "1.1"]) }
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.load(file: nil, environment: [:], overrides: ["ws.max_message_bytes": "0"]) }
    }

    @Test func plaintextOnlyOnLoopback() throws {
        #expect(try GatewayConfiguration.load(file: nil, environment: [:], overrides: ["tls.enabled": "false"]).tlsEnabled == false)
        #expect(throws: ConfigurationError.self) {
            try GatewayConfiguration.load(file: nil, environment: [:], overrides: ["tls.enabled": "false", "listen": "0.0.0.0:8080"])
        }
    }

    @Test func hostPortParsing() throws {
        #expect(try GatewayConfiguration.parseHostPort("[::1]:443") == ("::1", 443))
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.parseHostPort("localhost") }
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.parseHostPort("h:70000") }
    }
}

import Foundation

enum FileManagerTemp {
    static func write(_ text: String) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-config-\(UUID().uuidString).json").path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }
}

@Suite struct DocumentationDriftTests {
    @Test func operationsDocHasTheGeneratedConfigurationTable() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/operations.md").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains(SettingCatalogue.markdownTable()), "run `bulwark config reference` and update docs/operations.md")
    }
}
