import BulwarkCore
import Synchronization

/// A configured external OpenID Connect issuer whose access tokens the gateway accepts as a
/// resource server (docs/oauth.md, "External issuers").
public struct ExternalIssuerConfig: Sendable {
    public enum KeySource: Sendable {
        /// `https://…/.well-known/openid-configuration`; its `issuer` must equal ours exactly and its
        /// `jwks_uri` must be https.
        case discovery(String)
        case jwksURI(String)
        /// Keys written in the configuration (never fetched).
        case staticKeys(JWKSet)
    }

    public var issuer: String
    public var keySource: KeySource
    public var audiences: Set<String>
    public var algorithms: Set<JWSAlgorithm>
    /// Accepted `typ`; empty with `typeOptional` for issuers that do not type access tokens.
    public var types: Set<String>
    public var typeOptional: Bool
    /// The claim naming the principal (default `sub`) and its mapping to accounts.
    public var accountClaim: String
    public var accounts: [String: String]
    /// Scopes a token from this issuer may carry at most (read from its `scope` claim).
    public var scopes: Set<Scope>
    /// `trade` is granted only when `acr` is one of these, or `amr` contains one of `tradeAMR`.
    public var tradeACR: Set<String>
    public var tradeAMR: Set<String>
    public var leewaySeconds: Int64
    /// Unknown `kid`s trigger a JWKS refresh at most this often.
    public var refreshMinIntervalMs: Int64

    public init(
        issuer: String, keySource: KeySource, audiences: Set<String>, algorithms: Set<JWSAlgorithm> = [.edDSA, .es256, .ps256],
        types: Set<String> = ["at+jwt"], typeOptional: Bool = false, accountClaim: String = "sub", accounts: [String: String],
        scopes: Set<Scope> = [.read], tradeACR: Set<String> = [], tradeAMR: Set<String> = [], leewaySeconds: Int64 = 10,
        refreshMinIntervalMs: Int64 = 30_000
    ) {
        self.issuer = issuer
        self.keySource = keySource
        self.audiences = audiences
        self.algorithms = algorithms
        self.types = types
        self.typeOptional = typeOptional
        self.accountClaim = accountClaim
        self.accounts = accounts
        self.scopes = scopes
        self.tradeACR = tradeACR
        self.tradeAMR = tradeAMR
        self.leewaySeconds = leewaySeconds
        self.refreshMinIntervalMs = refreshMinIntervalMs
    }

    public var policy: JWTPolicy {
        JWTPolicy(
            issuer: issuer, audiences: audiences, algorithms: algorithms, types: types, typeOptional: typeOptional, leewaySeconds: leewaySeconds,
            requiredClaims: ["iss", "exp", "aud", "sub"])
    }

    /// Parses one issuer object of the issuers file (docs/oauth.md); errors name the member.
    public init(json object: JSONObject) throws(ConfigFailure) {
        func string(_ name: String) throws(ConfigFailure) -> String {
            guard let value = object[name]?.stringValue, !value.isEmpty else { throw ConfigFailure("\(name) is required") }
            return value
        }
        func strings(_ name: String) throws(ConfigFailure) -> [String] {
            guard let value = object[name] else { return [] }
            guard let array = value.arrayValue, case let texts = array.compactMap(\.stringValue), texts.count == array.count else {
                throw ConfigFailure("\(name) must be a list of strings")
            }
            return texts
        }
        let allowed: Set<String> = [
            "issuer", "discovery_url", "jwks_uri", "jwks", "audiences", "algorithms", "types", "type_optional", "account_claim", "accounts", "scopes",
            "trade_acr", "trade_amr", "leeway_s", "refresh_min_interval_ms",
        ]
        for key in object.keys where !allowed.contains(key) { throw ConfigFailure("unknown member \(key)") }
        issuer = try string("issuer")
        let sources = ["discovery_url", "jwks_uri", "jwks"].filter { object[$0] != nil }
        guard sources.count == 1 else { throw ConfigFailure("exactly one of discovery_url, jwks_uri, jwks") }
        switch sources[0] {
        case "discovery_url":
            let url = try string("discovery_url")
            guard url.hasPrefix("https://") else { throw ConfigFailure("discovery_url must be https") }
            keySource = .discovery(url)
        case "jwks_uri":
            let url = try string("jwks_uri")
            guard url.hasPrefix("https://") else { throw ConfigFailure("jwks_uri must be https") }
            keySource = .jwksURI(url)
        default:
            guard let set = try? JWKSet(json: object["jwks"]!) else { throw ConfigFailure("jwks is not a valid public JWK Set") }
            keySource = .staticKeys(set)
        }
        audiences = Set(try strings("audiences"))
        guard !audiences.isEmpty else { throw ConfigFailure("audiences is required") }
        let algNames = try strings("algorithms")
        var algs = Set<JWSAlgorithm>()
        for name in algNames {
            guard let alg = JWSAlgorithm(rawValue: name) else { throw ConfigFailure("algorithm \(name) is not allowed (EdDSA, ES256, PS256)") }
            algs.insert(alg)
        }
        algorithms = algs.isEmpty ? [.edDSA, .es256, .ps256] : algs
        let typeNames = try strings("types")
        types = typeNames.isEmpty ? ["at+jwt"] : Set(typeNames.map { $0.lowercased() })
        typeOptional = object["type_optional"]?.boolValue ?? false
        accountClaim = object["account_claim"]?.stringValue ?? "sub"
        guard let map = object["accounts"]?.objectValue else { throw ConfigFailure("accounts (claim value → account id) is required") }
        var accounts: [String: String] = [:]
        for (key, value) in map.members {
            guard let id = value.stringValue else { throw ConfigFailure("accounts.\(key) must be an account id") }
            accounts[key] = id
        }
        self.accounts = accounts
        let scopeNames = try strings("scopes")
        guard let parsed = Scope.parseList(scopeNames.joined(separator: " ")) else { throw ConfigFailure("unknown scope in scopes") }
        scopes = scopeNames.isEmpty ? [.read] : parsed
        tradeACR = Set(try strings("trade_acr"))
        tradeAMR = Set(try strings("trade_amr"))
        leewaySeconds = min(object["leeway_s"]?.int64Value ?? 10, JWTPolicy.maxLeewaySeconds)
        refreshMinIntervalMs = max(object["refresh_min_interval_ms"]?.int64Value ?? 30_000, 1000)
    }

    public struct ConfigFailure: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// `{"issuers":[…]}`.
    public static func parseFile(_ bytes: [UInt8]) throws(ConfigFailure) -> [ExternalIssuerConfig] {
        guard let json = try? StrictJSONParser(limits: JSONParserLimits(maxDepth: 8, maxObjectMembers: 4096, maxInputBytes: 1 << 20)).parse(bytes),
            let issuers = json.objectValue?["issuers"]?.arrayValue
        else { throw ConfigFailure("the issuers file must be {\"issuers\":[...]} (strict JSON)") }
        var result: [ExternalIssuerConfig] = []
        for (index, element) in issuers.enumerated() {
            guard let object = element.objectValue else { throw ConfigFailure("issuers[\(index)] must be an object") }
            do throws(ConfigFailure) {
                result.append(try ExternalIssuerConfig(json: object))
            } catch {
                throw ConfigFailure("issuers[\(index)]: \(error.description)")
            }
        }
        return result
    }
}

/// Fetches a document over HTTPS (the gateway uses async-http-client; tests inject their own).
public protocol HTTPSFetcher: Sendable {
    func get(_ url: String) async throws -> [UInt8]
}

/// An issuer's signing keys: fetched from its JWKS (never from a token's `jku`, `x5u` or `jwk`),
/// cached, and refreshed when a token names an unknown `kid` — at most once per
/// `refreshMinIntervalMs`, so a flood of junk `kid`s cannot turn into a flood of fetches.
public final class IssuerKeyCache: Sendable {
    public let config: ExternalIssuerConfig
    private let fetcher: (any HTTPSFetcher)?
    private struct State {
        var keys: JWKSet?
        var lastAttemptMs: Int64?
    }
    private let state: Mutex<State>

    public init(config: ExternalIssuerConfig, fetcher: (any HTTPSFetcher)?) {
        self.config = config
        self.fetcher = fetcher
        if case .staticKeys(let set) = config.keySource {
            state = Mutex(State(keys: set, lastAttemptMs: nil))
        } else {
            state = Mutex(State())
        }
    }

    public var cachedKeys: JWKSet { state.withLock { $0.keys ?? JWKSet(keys: []) } }

    /// The key set, refreshed first when `kid` is not in it and the rate limit allows.
    public func keys(forKID kid: String, nowMs: Int64) async -> JWKSet {
        let (current, mayFetch) = state.withLock { state -> (JWKSet?, Bool) in
            if let keys = state.keys, keys.key(kid: kid) != nil { return (keys, false) }
            if case .staticKeys = config.keySource { return (state.keys, false) }
            if let last = state.lastAttemptMs, nowMs - last < config.refreshMinIntervalMs { return (state.keys, false) }
            state.lastAttemptMs = nowMs
            return (state.keys, true)
        }
        guard mayFetch, let fetched = try? await fetch() else { return current ?? JWKSet(keys: []) }
        state.withLock { $0.keys = fetched }
        return fetched
    }

    private func fetch() async throws -> JWKSet {
        guard let fetcher else { throw ExternalIssuerConfig.ConfigFailure("no fetcher") }
        let jwksURI: String
        switch config.keySource {
        case .staticKeys(let set): return set
        case .jwksURI(let uri): jwksURI = uri
        case .discovery(let url):
            let document = try StrictJSONParser().parse(try await fetcher.get(url))
            // RFC 8414 §3.3 / OIDC Discovery §4.3: the issuer in the document must be ours exactly.
            guard let object = document.objectValue, object["issuer"]?.stringValue == config.issuer,
                let uri = object["jwks_uri"]?.stringValue, uri.hasPrefix("https://")
            else { throw ExternalIssuerConfig.ConfigFailure("discovery document refused") }
            jwksURI = uri
        }
        return try JWKSet(json: try StrictJSONParser(limits: JSONParserLimits(maxDepth: 8, maxObjectMembers: 64, maxStringBytes: 8192)).parse(try await fetcher.get(jwksURI)))
    }
}
