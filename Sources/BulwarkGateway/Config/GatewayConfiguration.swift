import BulwarkAuth
import BulwarkCore
import BulwarkSessions
import Configuration
import Foundation

public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The gateway's settings, resolved from (highest precedence first) command-line flags, `BULWARK_*`
/// environment variables, the JSON config file, and the defaults of `SettingCatalogue`.
public struct GatewayConfiguration: Sendable {
    public var dataDirectory: String
    /// Where accounts, keys, sessions and the audit trail live (`store.url`).
    public var store: StoreLocation = .sqlite
    /// This node's name in a cluster (`cluster.node_id`).
    public var nodeID: String = ""
    /// How often cluster nodes exchange rate-limit spending (`cluster.rate_sync_ms`).
    public var rateSyncMs: Int64 = 200
    public var listenHost: String
    public var listenPort: Int
    public var tlsEnabled: Bool
    public var tlsMinimumVersion: TLSMinimumVersion
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?
    public var clientAuth: ClientAuthMode
    public var clientCAFile: String?
    public var crlFiles: [String]
    /// The admin listener, when configured (mutual TLS is mandatory there).
    public var admin: AdminListener?

    public struct AdminListener: Sendable {
        public let host: String
        public let port: Int
        public let clientCAFile: String
        public let crlFiles: [String]
    }
    public var limits: ConnectionLimits
    public var allowedOrigins: Set<String>
    /// `GET /ws/echo`, the RFC 6455 conformance echo (off by default).
    public var conformanceEcho = false
    /// Peers whose forwarded client address is believed (`net.trusted_proxies`).
    public var trustedProxies: [IPNetwork] = []
    /// Connections from trusted proxies start with a PROXY v2 header.
    public var proxyProtocol = false
    /// `GET /metrics` on the public listener.
    public var metricsPublic = false
    public var recvWindowMs: Int64
    public var loginThrottle: LoginThrottle.Policy
    public var hmacEnabled: Bool
    public var masterKeyFile: String?
    public var sessionIdleTimeoutMs: Int64
    public var sessionAbsoluteTimeoutMs: Int64
    public var sessionWarningLeadMs: Int64
    public var sessionsPerAccount: Int
    public var sessionLimitBehaviour: SessionPolicy.LimitBehaviour
    public var stepUpTTLMs: Int64 = SessionPolicy().stepUpTTLMs
    /// Private events kept per account for resume.
    public var replayEvents = 1024
    /// Orders at or above this notional need a fresh step-up (nil: no such rule).
    public var stepUpOrderNotional: FixedDecimal?
    public var mfa = MFAService.Policy()
    public var riskEnabled = true
    public var riskPolicy = RiskPolicy()
    public var riskRateWindowMs: Int64 = 10_000
    public var alertWebhookURL: URL?
    public var logFormat = LogFormat.text

    public enum LogFormat: String, Sendable {
        case text
        case json
    }
    public var autoBlockEnabled = true
    public var autoBlockMs: Int64 = 900_000
    public var neverAutoBlock: [IPNetwork] = []
    /// Rate limits and abuse protection (docs/rate-limits.md).
    public var rateLimits = RateLimitSettings()
    public var shutdownDrainMs: Int64
    public var demoEnabled: Bool
    public var oauth = OAuthSettings()

    /// `oauth.*`: the authorization server and the bearer grant.
    public struct OAuthSettings: Sendable {
        public var issuer: String?
        public var audience: String?
        public var accessTokenTTLSeconds: Int64 = 900
        public var refreshTokenTTLMs: Int64 = 86_400_000
        public var requireDPoP = false
        public var requireDPoPNonce = false
        public var dpopMaxAgeSeconds: Int64 = 60
        public var signingAlgorithm = JWSAlgorithm.edDSA
        public var keyRotationDays = 30
        public var externalIssuersFile: String?
        public var issuersCAFile: String?
    }
    /// The venue: journal, timeouts, limits, market data and the demo simulator.
    public var venue = VenueSettings()

    public enum TLSMinimumVersion: String, Sendable {
        case tls12 = "1.2"
        case tls13 = "1.3"
    }

    /// Resolves the configuration.
    /// - Parameters:
    ///   - file: a JSON config file (nested objects or dotted keys), or nil.
    ///   - environment: the process environment; only `BULWARK_*` variables are read.
    ///   - overrides: values from command-line flags, by catalogue key.
    public static func load(
        file: String?, environment: [String: String], overrides: [String: String] = [:]
    ) throws -> GatewayConfiguration {
        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "flags", values: try typedValues(overrides, origin: "command line"))
        ]
        providers.append(InMemoryProvider(name: "environment", values: try environmentValues(environment)))
        if let file {
            providers.append(InMemoryProvider(name: "file", values: try fileValues(path: file)))
        }
        return try resolve(ConfigReader(providers: providers))
    }

    private static func resolve(_ reader: ConfigReader) throws -> GatewayConfiguration {
        func string(_ key: String) -> String {
            reader.string(forKey: ConfigKey(key), default: SettingCatalogue.spec(key)!.defaultValue)
        }
        func int(_ key: String) -> Int {
            reader.int(forKey: ConfigKey(key), default: Int(SettingCatalogue.spec(key)!.defaultValue)!)
        }
        func bool(_ key: String) -> Bool {
            reader.bool(forKey: ConfigKey(key), default: SettingCatalogue.spec(key)!.defaultValue == "true")
        }
        let (host, port) = try parseHostPort(string("listen"))
        guard let minimum = TLSMinimumVersion(rawValue: string("tls.min_version")) else {
            throw ConfigurationError("tls.min_version must be 1.2 or 1.3")
        }
        let limits = ConnectionLimits(
            maxMessageBytes: int("ws.max_message_bytes"), maxFrameBytes: int("ws.max_frame_bytes"),
            maxFragments: int("ws.max_fragments"), maxSubscriptions: int("ws.max_subscriptions"),
            maxInFlight: int("ws.max_in_flight"), handshakeDeadlineMs: Int64(int("ws.handshake_deadline_ms")),
            authDeadlineMs: Int64(int("ws.auth_deadline_ms")), pingIntervalMs: Int64(int("ws.ping_interval_ms")),
            pongTimeoutMs: Int64(int("ws.pong_timeout_ms")), maxHandshakeHeaderBytes: int("ws.max_handshake_header_bytes"),
            maxHandshakeHeaders: int("ws.max_handshake_headers"), maxOutboundBytes: int("ws.max_outbound_bytes"))
        try limits.validate()
        let certificate = string("tls.cert_file")
        let key = string("tls.key_file")
        guard certificate.isEmpty == key.isEmpty else {
            throw ConfigurationError("tls.cert_file and tls.key_file must be set together")
        }
        guard let clientAuth = ClientAuthMode(rawValue: string("tls.client_auth")) else {
            throw ConfigurationError("tls.client_auth must be none, optional or required")
        }
        let clientCAFile = string("tls.client_ca_file")
        guard clientAuth == .none || !clientCAFile.isEmpty else {
            throw ConfigurationError("tls.client_auth \(clientAuth.rawValue) needs tls.client_ca_file")
        }
        let crlFiles = string("tls.crl_files").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var admin: AdminListener?
        let adminListen = string("admin.listen")
        if !adminListen.isEmpty {
            let (adminHost, adminPort) = try parseHostPort(adminListen)
            let adminCA = string("admin.client_ca_file")
            guard !adminCA.isEmpty else {
                throw ConfigurationError("admin.listen needs admin.client_ca_file: the admin listener only accepts operator certificates")
            }
            let adminCRLs = string("admin.crl_files").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            admin = AdminListener(host: adminHost, port: adminPort, clientCAFile: adminCA, crlFiles: adminCRLs)
        }
        let origins = string("ws.allowed_origins").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        var throttle = LoginThrottle.Policy()
        throttle.freeFailures = int("auth.throttle_free_failures")
        throttle.freeFailuresPerIP = int("auth.throttle_ip_free_failures")
        throttle.baseDelayMs = Int64(int("auth.throttle_base_delay_ms"))
        throttle.maxDelayMs = Int64(int("auth.throttle_max_delay_ms"))
        throttle.lockoutFailures = int("auth.lockout_failures")
        throttle.lockoutMs = Int64(int("auth.lockout_ms"))
        guard (1...100).contains(throttle.lockoutFailures) else {
            throw ConfigurationError("auth.lockout_failures must be within 1...100 (NIST SP 800-63B)")
        }
        guard throttle.freeFailures >= 0, throttle.baseDelayMs > 0, throttle.maxDelayMs >= throttle.baseDelayMs, throttle.lockoutMs > 0 else {
            throw ConfigurationError("auth.throttle_* and auth.lockout_ms must be positive, max delay at least the base delay")
        }
        guard let limitBehaviour = SessionPolicy.LimitBehaviour(rawValue: string("session.on_limit")) else {
            throw ConfigurationError("session.on_limit must be evict_oldest or refuse")
        }
        guard int("session.max_per_account") >= 1, int("session.warning_lead_ms") >= 10_000 else {
            throw ConfigurationError("session.max_per_account must be at least 1 and session.warning_lead_ms at least 10000")
        }
        var configuration = GatewayConfiguration(
            dataDirectory: string("data"), listenHost: host, listenPort: port, tlsEnabled: bool("tls.enabled"),
            tlsMinimumVersion: minimum, tlsCertificateFile: certificate.isEmpty ? nil : certificate,
            tlsKeyFile: key.isEmpty ? nil : key, clientAuth: clientAuth, clientCAFile: clientCAFile.isEmpty ? nil : clientCAFile,
            crlFiles: crlFiles, admin: admin, limits: limits, allowedOrigins: Set(origins.filter { !$0.isEmpty }),
            recvWindowMs: Int64(int("auth.recv_window_ms")), loginThrottle: throttle, hmacEnabled: bool("auth.hmac_enabled"),
            masterKeyFile: string("secrets.master_key_file").isEmpty ? nil : string("secrets.master_key_file"), sessionIdleTimeoutMs: Int64(int("session.idle_timeout_ms")),
            sessionAbsoluteTimeoutMs: Int64(int("session.absolute_timeout_ms")),
            sessionWarningLeadMs: Int64(int("session.warning_lead_ms")), sessionsPerAccount: int("session.max_per_account"),
            sessionLimitBehaviour: limitBehaviour,
            shutdownDrainMs: Int64(int("shutdown.drain_ms")), demoEnabled: bool("demo.enabled"))
        configuration.store = try StoreLocation(url: string("store.url"))
        configuration.rateSyncMs = Int64(int("cluster.rate_sync_ms"))
        guard (50...5000).contains(configuration.rateSyncMs) else { throw ConfigurationError("cluster.rate_sync_ms must be within 50...5000") }
        configuration.nodeID = string("cluster.node_id").isEmpty
            ? StoreLocation.defaultNodeID(dataDirectory: configuration.dataDirectory) : string("cluster.node_id")
        try configuration.readNetwork(string: string, bool: bool)
        try configuration.readSessionSecurity(string: string, int: int, bool: bool)
        configuration.rateLimits = try RateLimitSettings.read(string: string, int: int)
        try configuration.readOAuth(string: string, int: int, bool: bool)
        configuration.venue = try VenueSettings.read(string: string, int: int)
        try configuration.validate()
        return configuration
    }

    /// Data-plane switches and the trusted proxies.
    private mutating func readNetwork(string: (String) -> String, bool: (String) -> Bool) throws {
        conformanceEcho = bool("ws.conformance_echo")
        metricsPublic = bool("metrics.public")
        proxyProtocol = bool("net.proxy_protocol")
        let proxies = string("net.trusted_proxies").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        trustedProxies = try proxies.map { text in
            guard let network = IPNetwork(text) else { throw ConfigurationError("net.trusted_proxies: '\(text)' is not an IP address or CIDR") }
            return network
        }
        guard !proxyProtocol || !trustedProxies.isEmpty else {
            throw ConfigurationError("net.proxy_protocol needs net.trusted_proxies: only trusted proxies may send a PROXY header")
        }
    }

    /// Step-up, MFA and risk settings (docs/risk-engine.md explains the numbers).
    private mutating func readSessionSecurity(string: (String) -> String, int: (String) -> Int, bool: (String) -> Bool) throws {
        replayEvents = int("session.replay_events")
        guard (16...100_000).contains(replayEvents) else { throw ConfigurationError("session.replay_events must be within 16...100000") }
        stepUpTTLMs = Int64(int("session.step_up_ttl_ms"))
        guard stepUpTTLMs > 0 else { throw ConfigurationError("session.step_up_ttl_ms must be positive") }
        let notional = string("mfa.step_up_order_notional")
        if !notional.isEmpty {
            guard let value = FixedDecimal(parsing: notional), value.isPositive else {
                throw ConfigurationError("mfa.step_up_order_notional must be a positive decimal or empty")
            }
            stepUpOrderNotional = value
        }
        mfa.issuer = string("mfa.issuer")
        mfa.freeFailures = int("mfa.throttle_free_failures")
        mfa.lockAfterFailures = int("mfa.lockout_failures")
        mfa.lockMs = Int64(int("mfa.lockout_ms"))
        guard !mfa.issuer.isEmpty, !mfa.issuer.contains(":"), mfa.issuer.count <= 64 else {
            throw ConfigurationError("mfa.issuer must be 1-64 characters without ':'")
        }
        guard (1...100).contains(mfa.lockAfterFailures), mfa.freeFailures >= 0, mfa.lockMs > 0 else {
            throw ConfigurationError("mfa.lockout_failures must be within 1...100 (NIST SP 800-63B), mfa.lockout_ms positive")
        }
        riskEnabled = bool("risk.enabled")
        func fraction(_ key: String) throws -> Double {
            guard let value = Double(string(key)), value.isFinite else { throw ConfigurationError("\(key) must be a number") }
            return value
        }
        riskPolicy.stepUpThreshold = try fraction("risk.step_up_threshold")
        riskPolicy.killThreshold = try fraction("risk.kill_threshold")
        riskPolicy.timeoutExponent = try fraction("risk.timeout_exponent")
        riskPolicy.idleFloorMs = Int64(int("risk.min_idle_timeout_ms"))
        riskPolicy.absoluteFloorMs = Int64(int("risk.min_absolute_timeout_ms"))
        // The MFA discount fades over the same window as the step-up itself.
        riskPolicy.mfaWindowMs = stepUpTTLMs
        if riskPolicy.elevatedThreshold >= riskPolicy.stepUpThreshold {
            riskPolicy.elevatedThreshold = riskPolicy.stepUpThreshold / 2
        }
        if let problem = riskPolicy.configurationProblems.first { throw ConfigurationError("risk: \(problem)") }
        riskRateWindowMs = Int64(int("risk.rate_window_ms"))
        let webhook = string("alerts.webhook_url")
        if !webhook.isEmpty {
            guard let url = URL(string: webhook), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ConfigurationError("alerts.webhook_url must be an http(s) URL")
            }
            alertWebhookURL = url
        }
        guard let format = LogFormat(rawValue: string("log.format")) else { throw ConfigurationError("log.format must be text or json") }
        logFormat = format
        autoBlockEnabled = bool("detect.auto_block")
        autoBlockMs = Int64(int("detect.auto_block_ms"))
        guard autoBlockMs > 0 else { throw ConfigurationError("detect.auto_block_ms must be positive") }
        neverAutoBlock = try string("detect.never_block").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.map { entry in
                guard let network = IPNetwork(entry) else { throw ConfigurationError("detect.never_block: '\(entry)' is not an address or CIDR") }
                return network
            }
        guard riskRateWindowMs >= 100 else { throw ConfigurationError("risk.rate_window_ms must be at least 100") }
    }

    private mutating func readOAuth(string: (String) -> String, int: (String) -> Int, bool: (String) -> Bool) throws {
        let issuer = string("oauth.issuer")
        if !issuer.isEmpty {
            guard issuer.hasPrefix("https://") || (issuer.hasPrefix("http://") && !tlsEnabled), !issuer.hasSuffix("/"), !issuer.contains("?"), !issuer.contains("#") else {
                throw ConfigurationError("oauth.issuer must be an https URL without a trailing slash, query or fragment")
            }
            oauth.issuer = issuer
        }
        oauth.audience = string("oauth.audience").isEmpty ? nil : string("oauth.audience")
        oauth.accessTokenTTLSeconds = Int64(int("oauth.access_token_ttl_s"))
        guard (1...OAuthServerSettings.maxAccessTokenTTLSeconds).contains(oauth.accessTokenTTLSeconds) else {
            throw ConfigurationError("oauth.access_token_ttl_s must be within 1...3600")
        }
        oauth.refreshTokenTTLMs = Int64(int("oauth.refresh_token_ttl_ms"))
        guard oauth.refreshTokenTTLMs >= 0 else { throw ConfigurationError("oauth.refresh_token_ttl_ms must not be negative") }
        oauth.requireDPoP = bool("oauth.require_dpop")
        oauth.requireDPoPNonce = bool("oauth.require_dpop_nonce")
        oauth.dpopMaxAgeSeconds = Int64(int("oauth.dpop_max_age_s"))
        guard (1...3600).contains(oauth.dpopMaxAgeSeconds) else { throw ConfigurationError("oauth.dpop_max_age_s must be within 1...3600") }
        guard let alg = JWSAlgorithm(rawValue: string("oauth.signing_alg")), alg != .ps256 else {
            throw ConfigurationError("oauth.signing_alg must be EdDSA or ES256")
        }
        oauth.signingAlgorithm = alg
        oauth.keyRotationDays = int("oauth.key_rotation_days")
        guard oauth.keyRotationDays >= 0 else { throw ConfigurationError("oauth.key_rotation_days must not be negative") }
        oauth.externalIssuersFile = string("oauth.external_issuers_file").isEmpty ? nil : string("oauth.external_issuers_file")
        oauth.issuersCAFile = string("oauth.issuers_ca_file").isEmpty ? nil : string("oauth.issuers_ca_file")
    }

    func validate() throws {
        guard (0...60_000).contains(recvWindowMs) else {
            throw ConfigurationError("auth.recv_window_ms must be within 0...60000")
        }
        guard sessionIdleTimeoutMs > 0, sessionAbsoluteTimeoutMs > 0 else {
            throw ConfigurationError("session timeouts must be positive")
        }
        // Plain ws:// would expose credentials and orders on the network: loopback only.
        if !tlsEnabled && !Self.isLoopback(listenHost) {
            throw ConfigurationError(
                "tls.enabled=false is only allowed on a loopback address; \(listenHost) is not one")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    static func parseHostPort(_ text: String) throws -> (String, Int) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ConfigurationError("listen must be HOST:PORT, got \(text)")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw ConfigurationError("listen must be HOST:PORT, got \(text)") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else {
            throw ConfigurationError("listen must be HOST:PORT with a port in 0...65535, got \(text)")
        }
        return (String(host), port)
    }

    // MARK: Sources

    private static func typedValues(_ raw: [String: String], origin: String) throws -> [AbsoluteConfigKey: ConfigValue] {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, text) in raw {
            guard let spec = SettingCatalogue.spec(key) else { throw ConfigurationError("unknown setting \(key) (\(origin))") }
            values[AbsoluteConfigKey(key.split(separator: ".").map(String.init))] = try typed(text, spec: spec, origin: origin)
        }
        return values
    }

    private static func typed(_ text: String, spec: SettingSpec, origin: String) throws -> ConfigValue {
        switch spec.kind {
        case .int:
            guard let number = Int(text) else { throw ConfigurationError("\(spec.key) must be an integer, got '\(text)' (\(origin))") }
            return ConfigValue(.int(number), isSecret: false)
        case .bool:
            switch text.lowercased() {
            case "true", "1", "yes": return ConfigValue(.bool(true), isSecret: false)
            case "false", "0", "no": return ConfigValue(.bool(false), isSecret: false)
            default: throw ConfigurationError("\(spec.key) must be true or false, got '\(text)' (\(origin))")
            }
        case .string, .stringList:
            return ConfigValue(.string(text), isSecret: false)
        }
    }

    private static func environmentValues(_ environment: [String: String]) throws -> [AbsoluteConfigKey: ConfigValue] {
        let byName = Dictionary(uniqueKeysWithValues: SettingCatalogue.all.map { ($0.environmentName, $0) })
        var raw: [String: String] = [:]
        for (name, value) in environment where name.hasPrefix("BULWARK_") {
            // A typo in a BULWARK_ variable would otherwise be silently ignored.
            guard let spec = byName[name] else { throw ConfigurationError("unknown environment variable \(name)") }
            raw[spec.key] = value
        }
        return try typedValues(raw, origin: "environment")
    }

    private static func fileValues(path: String) throws -> [AbsoluteConfigKey: ConfigValue] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read config file \(path)")
        }
        let document: JSONValue
        do {
            document = try StrictJSONParser().parse(Array(data))
        } catch {
            throw ConfigurationError("config file \(path) is not valid JSON: \(error.reason) at byte \(error.offset)")
        }
        guard case .object(let root) = document else { throw ConfigurationError("config file \(path) must hold a JSON object") }
        var raw: [String: String] = [:]
        try flatten(root, prefix: "", into: &raw, path: path)
        return try typedValues(raw, origin: path)
    }

    private static func flatten(_ object: JSONObject, prefix: String, into raw: inout [String: String], path: String) throws {
        for (key, value) in object.members {
            let full = prefix.isEmpty ? key : prefix + "." + key
            switch value {
            case .object(let nested): try flatten(nested, prefix: full, into: &raw, path: path)
            case .string(let text): raw[full] = text
            case .bool(let flag): raw[full] = flag ? "true" : "false"
            case .number(let number):
                guard let integer = number.int64 else { throw ConfigurationError("\(full) must be an integer (\(path))") }
                raw[full] = String(integer)
            case .array(let items):
                let texts = items.compactMap(\.stringValue)
                guard texts.count == items.count else { throw ConfigurationError("\(full) must be a list of strings (\(path))") }
                raw[full] = texts.joined(separator: ",")
            case .null:
                throw ConfigurationError("\(full) must not be null (\(path))")
            }
        }
    }
}
