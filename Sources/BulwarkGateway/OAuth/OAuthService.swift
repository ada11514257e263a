import AsyncHTTPClient
import BulwarkAuth
import BulwarkCore
import BulwarkSessions
import BulwarkStore
import Foundation
import Logging
import NIOCore
import NIOSSL

/// The node's OAuth side, wired once the listener's address is known (the issuer URL names it):
/// the authorization server behind the HTTP routes and the bearer-grant verifier behind `public/auth`.
final class OAuthService: Sendable {
    let server: AuthorizationServer
    let bearer: BearerVerifier
    private let keyStore: SigningKeyStore
    private let clock: any WallClock
    private let logger: Logger

    init(configuration: GatewayConfiguration, issuer: String, store: any Store, box: SecretBox, identity: IdentityKey, sessions: SessionRegistry, clock: any WallClock, logger: Logger) throws {
        let oauth = configuration.oauth
        let settings = OAuthServerSettings(
            issuer: issuer, audience: oauth.audience, accessTokenTTLSeconds: oauth.accessTokenTTLSeconds, refreshTokenTTLMs: oauth.refreshTokenTTLMs,
            requireDPoP: oauth.requireDPoP, requireDPoPNonce: oauth.requireDPoPNonce, dpop: DPoPProofVerifier(maxAgeSeconds: oauth.dpopMaxAgeSeconds))
        let keyStore = SigningKeyStore(store: store, box: box)
        let now = clock.nowMs()
        if let kid = try keyStore.ensureActiveKey(
            algorithm: oauth.signingAlgorithm, rotateAfterMs: Int64(oauth.keyRotationDays) * 86_400_000, nowMs: now)
        {
            logger.info("token-signing key created", metadata: ["kid": "\(kid)", "alg": "\(oauth.signingAlgorithm.rawValue)"])
        }
        let ring = SigningKeyRing(try keyStore.load(overlapMs: settings.keyOverlapMs, nowMs: now))
        // One replay cache for every DPoP proof, HTTP and WebSocket: a proof's jti is single-use everywhere.
        let dpopReplay = NonceCache(capacity: 200_000)
        let identityJWK = PublicJWK(key: .ed25519(identity.privateKey.publicKey), kid: "gateway-identity", use: "kx")
        server = AuthorizationServer(
            settings: settings, registry: store, keys: ring, dpopReplay: dpopReplay, assertionReplay: NonceCache(capacity: 200_000),
            identityKey: identityJWK
        ) { [sessions, clock, logger] jtis in
            var ended = 0
            for jti in jtis { ended += sessions.endAll(keyID: jti, reason: .tokenRevoked, nowMs: clock.nowMs()) }
            if !jtis.isEmpty { logger.notice("access tokens revoked", metadata: ["tokens": "\(jtis.count)", "sessions_ended": "\(ended)"]) }
        }
        var caches: [IssuerKeyCache] = []
        if let file = oauth.externalIssuersFile {
            let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: file)))
            let fetcher = AsyncHTTPFetcher(extraCAFile: oauth.issuersCAFile)
            do {
                caches = try ExternalIssuerConfig.parseFile(bytes).map { IssuerKeyCache(config: $0, fetcher: fetcher) }
            } catch {
                throw ConfigurationError("oauth.external_issuers_file \(file): \(error.description)")
            }
            logger.info("external token issuers", metadata: ["issuers": "\(caches.map(\.config.issuer))"])
        }
        bearer = BearerVerifier(settings: settings, keys: ring, registry: store, issuers: caches, dpopReplay: dpopReplay)
        self.keyStore = keyStore
        self.clock = clock
        self.logger = logger
    }

    /// After `bulwark oauth keys rotate` in another process (change feed).
    func reloadKeys() {
        do {
            server.keys.replace(try keyStore.load(overlapMs: server.settings.keyOverlapMs, nowMs: clock.nowMs()))
            logger.info("token-signing keys reloaded", metadata: ["active": "\(server.keys.keys.active.kid)"])
        } catch {
            logger.error("token-signing keys reload failed", metadata: ["error": "\(error)"])
        }
    }
}

/// JWKS and discovery documents over TLS with async-http-client: system trust (plus
/// `oauth.issuers_ca_file`), bounded size and time, no redirects (a redirect could lead anywhere).
final class AsyncHTTPFetcher: HTTPSFetcher {
    static let maxBytes = 256 * 1024
    /// One client for the process (the service lives as long as the process).
    private let client: HTTPClient

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(extraCAFile: String?) {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(5))
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let extraCAFile { tls.additionalTrustRoots = [.file(extraCAFile)] }
        configuration.tlsConfiguration = tls
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func get(_ url: String) async throws -> [UInt8] {
        guard url.hasPrefix("https://") else { throw Failure(description: "only https is fetched") }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await client.execute(request, timeout: .seconds(10))
        guard response.status == .ok else { throw Failure(description: "HTTP \(response.status.code)") }
        let body = try await response.body.collect(upTo: Self.maxBytes)
        return Array(body.readableBytesView)
    }
}
