import BulwarkAuth
import BulwarkCore
import Crypto
import Foundation
import Synchronization

final class RevokedLog: Sendable {
    private let jtis = Mutex<[String]>([])
    func append(_ more: [String]) { jtis.withLock { $0 += more } }
    var all: [String] { jtis.withLock { $0 } }
}
import Testing

/// The authorization server and the bearer grant, end to end without sockets.
@Suite struct AuthorizationServerTests {
    let now: Int64 = 1_800_000_000_000
    let issuer = "https://gw.example:8443"
    let registry = MemoryOAuthRegistry()
    let clientKey = JWSPrivateKey.ed25519(Curve25519.Signing.PrivateKey())
    let dpopKey = JWSPrivateKey.p256(P256.Signing.PrivateKey())
    let secret = "cs_secret-of-the-basic-client"
    let revoked = RevokedLog()
    let server: AuthorizationServer
    let bearer: BearerVerifier

    init() throws {
        registry.accounts["a_1"] = AccountRecord(id: "a_1", name: "one", status: .enabled, createdMs: 0)
        var w = JSONWriter()
        JWKSet(keys: [PublicJWK(key: clientKey.publicKey, kid: "ck1")]).write(to: &w)
        registry.clients["cl_jwt"] = OAuthClientRecord(
            id: "cl_jwt", accountID: "a_1", authMethod: .privateKeyJWT, jwks: w.string, secretHash: nil, scopes: [.read, .trade], label: "",
            createdMs: 0, revokedMs: nil)
        registry.clients["cl_basic"] = OAuthClientRecord(
            id: "cl_basic", accountID: "a_1", authMethod: .clientSecretBasic, jwks: nil, secretHash: Array(SHA256.hash(data: Array(secret.utf8))),
            scopes: [.read], label: "", createdMs: 0, revokedMs: nil)
        let settings = OAuthServerSettings(issuer: issuer)
        let ring = SigningKeyRing(
            SigningKeySet(keys: [.init(kid: "sk1", privateKey: .ed25519(Curve25519.Signing.PrivateKey()), createdMs: 0, retiredMs: nil)], overlapMs: 0, nowMs: 0)!)
        let replay = NonceCache()
        let sink = revoked
        server = AuthorizationServer(
            settings: settings, registry: registry, keys: ring, dpopReplay: replay, assertionReplay: NonceCache()) { jtis in sink.append(jtis) }
        bearer = BearerVerifier(settings: settings, keys: ring, registry: registry, issuers: [], dpopReplay: replay)
    }

    // MARK: Helpers

    func assertion(aud: String? = nil, exp: Int64? = nil, iat: Int64? = nil, jti: String? = nil, kid: String = "ck1", sub: String = "cl_jwt") -> String {
        let t = now / 1000
        return TestJWT.sign(
            header: [("alg", .string("EdDSA")), ("kid", .string(kid)), ("typ", .string("JWT"))],
            claims: [
                ("iss", .string(sub)), ("sub", .string(sub)), ("aud", .string(aud ?? issuer + "/oauth/token")), ("iat", TestJWT.n(iat ?? t)),
                ("exp", TestJWT.n(exp ?? t + 60)), ("jti", .string(jti ?? Base64URL.encode(SecureRandom.bytes(count: 12)))),
            ], key: clientKey)
    }

    func form(_ pairs: [(String, String)]) -> [UInt8] {
        Array(pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&").utf8)
    }

    func post(_ path: String, _ pairs: [(String, String)], headers: [(String, String)] = [], at time: Int64? = nil) -> (Int, JSONObject, OAuthHTTPResponse) {
        let request = OAuthHTTPRequest(
            method: "POST", path: path, headers: [("Content-Type", "application/x-www-form-urlencoded")] + headers.map { ($0.0, $0.1) }, body: form(pairs))
        let response = server.handle(request, nowMs: time ?? now)!
        return (response.status, (try? StrictJSONParser().parse(response.body))?.objectValue ?? JSONObject(), response)
    }

    func jwtAuth(_ assertion: String) -> [(String, String)] {
        [("client_assertion_type", ClientAuthenticator.assertionType), ("client_assertion", assertion)]
    }

    func tokenRequest(extra: [(String, String)] = [], dpop: String? = nil) -> (Int, JSONObject, OAuthHTTPResponse) {
        post("/oauth/token", [("grant_type", "client_credentials")] + jwtAuth(assertion()) + extra, headers: dpop.map { [("DPoP", $0)] } ?? [])
    }

    func dpopProof(htm: String = "POST", htu: String? = nil, token: String? = nil, nonce: String? = nil, key: JWSPrivateKey? = nil) -> String {
        let signer = key ?? dpopKey
        var claims: [(String, JSONValue)] = [
            ("jti", .string(Base64URL.encode(SecureRandom.bytes(count: 12)))), ("htm", .string(htm)), ("htu", .string(htu ?? issuer + "/oauth/token")),
            ("iat", TestJWT.n(now / 1000)),
        ]
        if let token { claims.append(("ath", .string(Base64URL.encode(SHA256.hash(data: Array(token.utf8)))))) }
        if let nonce { claims.append(("nonce", .string(nonce))) }
        return TestJWT.sign(header: [("typ", .string("dpop+jwt")), ("alg", .string(signer.algorithm.rawValue)), ("jwk", TestJWT.jwk(signer.publicKey))], claims: claims, key: signer)
    }

    func login(_ token: String, dpop: String? = nil, challenge: String = "ch-1") async throws(BearerFailure) -> BearerIdentity {
        try await bearer.verify(BearerGrant(accessToken: token, dpop: dpop, scopes: nil), challenge: challenge, clientCertificateSHA256: nil, nowMs: now)
    }

    // MARK: Token endpoint

    @Test func privateKeyJWTIssuesAnRFC9068Token() throws {
        let (status, body, _) = tokenRequest(extra: [("scope", "read")])
        #expect(status == 200)
        #expect(body.string("token_type") == "Bearer")
        let token = try #require(body["access_token"]?.stringValue)
        let verified = try server.verifyOwnAccessToken(token, nowMs: now)
        #expect(verified.header.string("typ") == "at+jwt")
        for claim in ["iss", "aud", "sub", "client_id", "iat", "exp", "jti", "scope"] { #expect(verified.claims[claim] != nil) }
        #expect(verified.claims.string("scope") == "read")
        #expect((verified.expiresAt ?? 0) - now / 1000 <= 900)
    }

    @Test func clientSecretBasic() {
        let basic = "Basic " + Data("cl_basic:\(secret)".utf8).base64EncodedString()
        #expect(post("/oauth/token", [("grant_type", "client_credentials")], headers: [("Authorization", basic)]).0 == 200)
        let wrong = "Basic " + Data("cl_basic:nope".utf8).base64EncodedString()
        let (status, body, response) = post("/oauth/token", [("grant_type", "client_credentials")], headers: [("Authorization", wrong)])
        #expect(status == 401)
        #expect(body.string("error") == "invalid_client")
        #expect(response.headers.contains { $0.name == "WWW-Authenticate" })
        // A private_key_jwt client cannot fall back to a secret.
        let other = "Basic " + Data("cl_jwt:\(secret)".utf8).base64EncodedString()
        #expect(post("/oauth/token", [("grant_type", "client_credentials")], headers: [("Authorization", other)]).0 == 401)
    }

    @Test func clientAssertionNegatives() {
        let t = now / 1000
        let cases: [String] = [
            assertion(aud: "https://other.example/oauth/token"),  // wrong aud
            assertion(exp: t - 300, iat: t - 360),  // exp 5 min past
            assertion(iat: t + 120),  // iat 2 min ahead
            assertion(kid: "unknown"),
            assertion(sub: "cl_basic"),
        ]
        for bad in cases {
            let (status, body, _) = post("/oauth/token", [("grant_type", "client_credentials")] + jwtAuth(bad))
            #expect(status == 401)
            #expect(body.string("error") == "invalid_client")
        }
        // Replay of an assertion's jti.
        let once = assertion(jti: "fixed")
        #expect(post("/oauth/token", [("grant_type", "client_credentials")] + jwtAuth(once)).0 == 200)
        #expect(post("/oauth/token", [("grant_type", "client_credentials")] + jwtAuth(once)).0 == 401)
        // Issuer as aud is accepted too (FAPI 2.0).
        #expect(post("/oauth/token", [("grant_type", "client_credentials")] + jwtAuth(assertion(aud: issuer))).0 == 200)
    }

    @Test func badRequests() {
        #expect(post("/oauth/token", [("grant_type", "password")] + jwtAuth(assertion())).1.string("error") == "unsupported_grant_type")
        #expect(post("/oauth/token", [("grant_type", "client_credentials"), ("scope", "account")] + jwtAuth(assertion())).1.string("error") == "invalid_scope")
        #expect(post("/oauth/token", [("grant_type", "client_credentials"), ("grant_type", "client_credentials")] + jwtAuth(assertion())).1.string("error") == "invalid_request")
        #expect(post("/oauth/token", [("grant_type", "client_credentials")]).0 == 401)
    }

    // MARK: Refresh tokens

    @Test func refreshRotatesAndReuseRevokesTheFamily() throws {
        let (_, first, _) = tokenRequest()
        let refresh1 = try #require(first.string("refresh_token"))
        let access1 = try #require(first.string("access_token"))
        let (status2, second, _) = post("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", refresh1)] + jwtAuth(assertion()))
        #expect(status2 == 200)
        let refresh2 = try #require(second.string("refresh_token"))
        #expect(refresh2 != refresh1)
        // Reuse of refresh1: refused, and the whole family (refresh2, both access tokens) dies.
        let (status3, third, _) = post("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", refresh1)] + jwtAuth(assertion()))
        #expect(status3 == 400)
        #expect(third.string("error") == "invalid_grant")
        #expect(post("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", refresh2)] + jwtAuth(assertion())).0 == 400)
        let jti1 = try server.verifyOwnAccessToken(access1, nowMs: now).jti!
        #expect(revoked.all.contains(jti1))
        #expect(revoked.all.count == 2)
    }

    @Test func refreshFamilyHasAnAbsoluteExpiry() throws {
        let refresh = try #require(tokenRequest().1.string("refresh_token"))
        let later = now + 86_400_000 + 1
        let t = later / 1000
        let late = TestJWT.sign(
            header: [("alg", .string("EdDSA")), ("kid", .string("ck1"))],
            claims: [("iss", .string("cl_jwt")), ("sub", .string("cl_jwt")), ("aud", .string(issuer)), ("iat", TestJWT.n(t)), ("exp", TestJWT.n(t + 60)), ("jti", .string("late"))],
            key: clientKey)
        let (status, body, _) = post("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", refresh)] + jwtAuth(late), at: later)
        #expect(status == 400)
        #expect(body.string("error") == "invalid_grant")
    }

    @Test func refreshTokenOfAnotherClientIsUnknown() throws {
        let refresh = try #require(tokenRequest().1.string("refresh_token"))
        let basic = "Basic " + Data("cl_basic:\(secret)".utf8).base64EncodedString()
        #expect(post("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", refresh)], headers: [("Authorization", basic)]).1.string("error") == "invalid_grant")
    }

    // MARK: DPoP at the token endpoint

    @Test func dpopBindsTheToken() throws {
        let (status, body, _) = tokenRequest(dpop: dpopProof())
        #expect(status == 200)
        #expect(body.string("token_type") == "DPoP")
        let token = try #require(body.string("access_token"))
        let cnf = try server.verifyOwnAccessToken(token, nowMs: now).claims["cnf"]?.objectValue
        #expect(cnf?.string("jkt") == PublicJWK(key: dpopKey.publicKey, kid: nil).thumbprint)
        let (badStatus, bad, _) = tokenRequest(dpop: dpopProof(htm: "GET"))
        #expect(badStatus == 400)
        #expect(bad.string("error") == "invalid_dpop_proof")
    }

    @Test func serverNonceFlow() throws {
        var settings = OAuthServerSettings(issuer: issuer)
        settings.requireDPoPNonce = true
        let strict = AuthorizationServer(settings: settings, registry: registry, keys: server.keys, dpopReplay: NonceCache(), assertionReplay: NonceCache()) { _ in }
        func request(_ proof: String) -> OAuthHTTPResponse {
            strict.handle(
                OAuthHTTPRequest(
                    method: "POST", path: "/oauth/token", headers: [("Content-Type", "application/x-www-form-urlencoded"), ("DPoP", proof)],
                    body: form([("grant_type", "client_credentials")] + jwtAuth(assertion()))), nowMs: now)!
        }
        let first = request(dpopProof())
        #expect(first.status == 400)
        #expect(first.bodyText.contains("use_dpop_nonce"))
        let nonce = try #require(first.headers.first { $0.name == "DPoP-Nonce" }?.value)
        #expect(request(dpopProof(nonce: nonce)).status == 200)
    }

    // MARK: Bearer grant

    @Test func bearerGrantWithDPoPBoundToTheChallenge() async throws {
        let token = try #require(tokenRequest(dpop: dpopProof()).1.string("access_token"))
        let wsProof = dpopProof(htm: "GET", htu: issuer + "/ws/v1", token: token, nonce: "ch-1")
        let identity = try await login(token, dpop: wsProof)
        #expect(identity.accountID == "a_1")
        // The same proof again: replay.
        await #expect(throws: BearerFailure.replayed) { try await login(token, dpop: wsProof) }
        // Without a proof, or with a proof for another connection's challenge, or another key: refused.
        await #expect(throws: BearerFailure.self) { try await login(token) }
        await #expect(throws: BearerFailure.self) { try await login(token, dpop: dpopProof(htm: "GET", htu: issuer + "/ws/v1", token: token, nonce: "ch-other")) }
        let stranger = JWSPrivateKey.p256(P256.Signing.PrivateKey())
        await #expect(throws: BearerFailure.self) {
            try await login(token, dpop: dpopProof(htm: "GET", htu: issuer + "/ws/v1", token: token, nonce: "ch-1", key: stranger))
        }
    }

    @Test func plainBearerTokenAndRevocation() async throws {
        let token = try #require(tokenRequest().1.string("access_token"))
        let identity = try await login(token)
        #expect(identity.scopes == Set<Scope>([.read, .trade]))
        let (status, _, _) = post("/oauth/revoke", [("token", token)] + jwtAuth(assertion()))
        #expect(status == 200)
        #expect(revoked.all == [identity.credentialID])
        await #expect(throws: BearerFailure.self) { try await login(token) }
        // Introspection now says inactive.
        #expect(post("/oauth/introspect", [("token", token)] + jwtAuth(assertion())).1["active"] == .bool(false))
    }

    @Test func refreshTokenIsNotAnAccessToken() async throws {
        let refresh = try #require(tokenRequest().1.string("refresh_token"))
        await #expect(throws: BearerFailure.self) { try await login(refresh) }
    }

    @Test func introspection() throws {
        let token = try #require(tokenRequest().1.string("access_token"))
        let (status, body, _) = post("/oauth/introspect", [("token", token)] + jwtAuth(assertion()))
        #expect(status == 200)
        #expect(body["active"] == .bool(true))
        #expect(body.string("client_id") == "cl_jwt")
        for junk in ["junk", token + "x", "rt_nope"] {
            let inactive = post("/oauth/introspect", [("token", junk)] + jwtAuth(assertion())).1
            #expect(inactive["active"] == .bool(false))
            #expect(inactive.count == 1)
        }
        // Unauthenticated introspection is refused (no token scanning).
        #expect(post("/oauth/introspect", [("token", token)]).0 == 401)
        // Another client sees nothing.
        let basic = "Basic " + Data("cl_basic:\(secret)".utf8).base64EncodedString()
        #expect(post("/oauth/introspect", [("token", token)], headers: [("Authorization", basic)]).1["active"] == .bool(false))
    }

    @Test func jwksAndMetadata() throws {
        let jwks = server.handle(OAuthHTTPRequest(method: "GET", path: "/oauth/jwks", headers: [], body: []), nowMs: now)!
        let set = try JWKSet(json: StrictJSONParser().parse(jwks.body))
        #expect(set.key(kid: "sk1") != nil)
        #expect(!jwks.bodyText.contains("\"d\""))
        let meta = server.handle(OAuthHTTPRequest(method: "GET", path: "/.well-known/oauth-authorization-server", headers: [], body: []), nowMs: now)!
        let object = try #require(try StrictJSONParser().parse(meta.body).objectValue)
        #expect(object.string("issuer") == issuer)
        #expect(object.string("token_endpoint") == issuer + "/oauth/token")
    }

    @Test func rotationKeepsOldKeysDuringTheOverlap() throws {
        let old = SigningKeySet.Key(kid: "old", privateKey: .ed25519(Curve25519.Signing.PrivateKey()), createdMs: 0, retiredMs: now - 1000)
        let new = SigningKeySet.Key(kid: "new", privateKey: .ed25519(Curve25519.Signing.PrivateKey()), createdMs: now - 1000, retiredMs: nil)
        let during = try #require(SigningKeySet(keys: [old, new], overlapMs: 60_000, nowMs: now))
        #expect(during.active.kid == "new")
        #expect(during.published.key(kid: "old") != nil)
        let after = try #require(SigningKeySet(keys: [old, new], overlapMs: 60_000, nowMs: now + 120_000))
        #expect(after.published.key(kid: "old") == nil)
    }
}
