import BulwarkCore
import Crypto

/// The OAuth 2.0 authorization server (PROTOCOL.md §1): token, revocation, introspection, JWKS and
/// metadata, as pure request → response functions over a registry, a key ring and a clock.
public struct AuthorizationServer: Sendable {
    public let settings: OAuthServerSettings
    let registry: any OAuthRegistry
    public let keys: SigningKeyRing
    let clients: ClientAuthenticator
    public let nonces: DPoPNonceSource
    let dpopReplay: NonceCache
    /// Told about access tokens that stopped being valid (revocation, family revocation), so the
    /// live WebSocket sessions opened with them end at once.
    let onRevoked: @Sendable ([String]) -> Void
    /// `gateway identity` key: published in the JWKS with `use: "kx"` (PROTOCOL.md §5).
    let identityKey: PublicJWK?

    public init(
        settings: OAuthServerSettings, registry: any OAuthRegistry, keys: SigningKeyRing, nonces: DPoPNonceSource = DPoPNonceSource(),
        dpopReplay: NonceCache, assertionReplay: NonceCache, identityKey: PublicJWK? = nil, onRevoked: @escaping @Sendable ([String]) -> Void
    ) {
        self.settings = settings
        self.registry = registry
        self.keys = keys
        self.nonces = nonces
        self.dpopReplay = dpopReplay
        self.identityKey = identityKey
        self.onRevoked = onRevoked
        clients = ClientAuthenticator(registry: registry, settings: settings, assertionReplay: assertionReplay)
    }

    /// Routes one request; nil when the path is not an OAuth endpoint.
    public func handle(_ request: OAuthHTTPRequest, nowMs: Int64) -> OAuthHTTPResponse? {
        switch (request.method, request.path) {
        case ("GET", "/oauth/jwks"): return jwks()
        case ("GET", "/.well-known/oauth-authorization-server"): return metadata()
        case ("POST", "/oauth/token"): return respond(nowMs: nowMs) { () throws(OAuthError) in try token(request, nowMs: nowMs) }
        case ("POST", "/oauth/revoke"): return respond(nowMs: nowMs) { () throws(OAuthError) in try revoke(request, nowMs: nowMs) }
        case ("POST", "/oauth/introspect"): return respond(nowMs: nowMs) { () throws(OAuthError) in try introspect(request, nowMs: nowMs) }
        case (_, "/oauth/jwks"), (_, "/.well-known/oauth-authorization-server"):
            return Self.methodNotAllowed(allow: "GET")
        case (_, "/oauth/token"), (_, "/oauth/revoke"), (_, "/oauth/introspect"):
            return Self.methodNotAllowed(allow: "POST")
        default: return nil
        }
    }

    static func methodNotAllowed(allow: String) -> OAuthHTTPResponse {
        OAuthHTTPResponse(status: 405, headers: [("Allow", allow)], body: Array("{\"error\":\"method_not_allowed\"}".utf8))
    }

    private func respond(nowMs: Int64, _ body: () throws(OAuthError) -> OAuthHTTPResponse) -> OAuthHTTPResponse {
        do throws(OAuthError) {
            return try body()
        } catch {
            var headers: [(name: String, value: String)] = []
            if error.status == 401 { headers.append(("WWW-Authenticate", "Basic realm=\"bulwark\"")) }
            if error == .useDPoPNonce || error.code == "invalid_dpop_proof" { headers.append(("DPoP-Nonce", nonces.current(nowMs: nowMs))) }
            return .json(error.status, headers: headers) { w in
                w.beginObject()
                w.key("error"); w.string(error.code)
                w.key("error_description"); w.string(error.description)
                w.endObject()
            }
        }
    }

    // MARK: Token endpoint

    func token(_ request: OAuthHTTPRequest, nowMs: Int64) throws(OAuthError) -> OAuthHTTPResponse {
        try requireForm(request)
        let form = try FormBody.parse(request.body)
        let client = try clients.authenticate(request, form: form, nowMs: nowMs).client
        let proof = try dpopProof(request, nowMs: nowMs)
        if settings.requireDPoP, proof == nil { throw .invalidDPoP("a DPoP proof is required") }
        switch form["grant_type"] {
        case "client_credentials":
            let scopes = try requestedScopes(form["scope"], allowed: client.scopes)
            let familyID = settings.refreshTokenTTLMs > 0 ? Identifier.random(prefix: "fam", bytes: 16) : nil
            let refresh = try familyID.map { family throws(OAuthError) in
                try newRefreshToken(
                    familyID: family, client: client, scopes: scopes, jkt: proof?.thumbprint, familyExpiresMs: nowMs + settings.refreshTokenTTLMs, nowMs: nowMs)
            }
            return try issue(client: client, scopes: scopes, proof: proof, certificate: request.clientCertificateSHA256, familyID: familyID, refreshToken: refresh, nowMs: nowMs)
        case "refresh_token":
            guard let presented = form["refresh_token"], !presented.isEmpty, presented.utf8.count <= 256 else {
                throw .invalidRequest("refresh_token is required")
            }
            let hash = Self.hash(presented)
            guard let record = try? registry.refreshToken(hash: hash), record.clientID == client.id else {
                throw .invalidGrant("unknown refresh token")
            }
            guard record.revokedMs == nil else { throw .invalidGrant("refresh token revoked") }
            guard nowMs < record.familyExpiresMs else { throw .invalidGrant("refresh token expired") }
            // A DPoP-bound family only continues with the same key (RFC 9449 §5).
            if let bound = record.jkt, proof?.thumbprint != bound { throw .invalidDPoP("refresh token is bound to another DPoP key") }
            guard record.usedMs == nil, (try? registry.markRefreshTokenUsed(hash: hash, nowMs: nowMs)) == true else {
                // Reuse of a rotated token: someone holds a copy. Revoke the whole family.
                let jtis = (try? registry.revokeRefreshFamily(familyID: record.familyID, nowMs: nowMs)) ?? []
                onRevoked(jtis)
                throw .invalidGrant("refresh token reused; the grant is revoked")
            }
            let scopes = try requestedScopes(form["scope"], allowed: record.scopes.intersection(client.scopes))
            let next = try newRefreshToken(
                familyID: record.familyID, client: client, scopes: record.scopes, jkt: record.jkt, familyExpiresMs: record.familyExpiresMs, nowMs: nowMs)
            return try issue(
                client: client, scopes: scopes, proof: proof, certificate: request.clientCertificateSHA256, familyID: record.familyID, refreshToken: next,
                nowMs: nowMs)
        case nil:
            throw .invalidRequest("grant_type is required")
        default:
            throw OAuthError("unsupported_grant_type", "supported: client_credentials, refresh_token")
        }
    }

    private func requireForm(_ request: OAuthHTTPRequest) throws(OAuthError) {
        guard let type = request.headerValues("Content-Type").first?.lowercased(), type.hasPrefix("application/x-www-form-urlencoded") else {
            throw .invalidRequest("Content-Type must be application/x-www-form-urlencoded")
        }
    }

    private func dpopProof(_ request: OAuthHTTPRequest, nowMs: Int64) throws(OAuthError) -> DPoPProof? {
        let values = request.headerValues("DPoP")
        guard !values.isEmpty else { return nil }
        let nonceRule: DPoPExpectation.NonceRule = settings.requireDPoPNonce ? .accepted { [nonces] in nonces.accepts($0, nowMs: nowMs) } : .none
        let expectation = DPoPExpectation(method: "POST", uri: settings.issuer + request.path, nonce: nonceRule)
        do throws(DPoPError) {
            return try settings.dpop.verify(headerValues: values, expecting: expectation, replayCache: dpopReplay, nowMs: nowMs)
        } catch {
            switch error {
            case .useNonce: throw .useDPoPNonce
            case .replayed: throw .invalidDPoP("DPoP proof replayed")
            case .invalidProof(let why): throw .invalidDPoP(why)
            }
        }
    }

    private func requestedScopes(_ text: String?, allowed: Set<Scope>) throws(OAuthError) -> Set<Scope> {
        guard let text, !text.isEmpty else { return allowed }
        guard let asked = Scope.parseList(text), !asked.isEmpty else { throw .invalidScope("unknown scope") }
        guard asked.isSubset(of: allowed) else { throw .invalidScope("scope exceeds the client's scopes") }
        return asked
    }

    private func newRefreshToken(
        familyID: String, client: OAuthClientRecord, scopes: Set<Scope>, jkt: String?, familyExpiresMs: Int64, nowMs: Int64
    ) throws(OAuthError) -> String {
        let token = "rt_" + Base64URL.encode(SecureRandom.bytes(count: 32))
        let record = RefreshTokenRecord(
            hash: Self.hash(token), familyID: familyID, clientID: client.id, accountID: client.accountID, scopes: scopes, jkt: jkt, createdMs: nowMs,
            familyExpiresMs: familyExpiresMs)
        do {
            try registry.insertRefreshToken(record)
        } catch {
            throw OAuthError("server_error", "could not store the refresh token", status: 500)
        }
        return token
    }

    static func hash(_ token: String) -> String { Base64URL.encode(SHA256.hash(data: Array(token.utf8))) }

    private func issue(
        client: OAuthClientRecord, scopes: Set<Scope>, proof: DPoPProof?, certificate: [UInt8]?, familyID: String?, refreshToken: String?, nowMs: Int64
    ) throws(OAuthError) -> OAuthHTTPResponse {
        let jti = Base64URL.encode(SecureRandom.bytes(count: 18))
        let now = nowMs / 1000
        let exp = now + settings.accessTokenTTLSeconds
        let signing = keys.keys.active
        var claims = JSONWriter()
        claims.beginObject()
        claims.key("iss"); claims.string(settings.issuer)
        claims.key("sub"); claims.string(client.id)
        claims.key("aud"); claims.string(settings.audience)
        claims.key("client_id"); claims.string(client.id)
        claims.key("account_id"); claims.string(client.accountID)
        claims.key("iat"); claims.int(now)
        claims.key("nbf"); claims.int(now)
        claims.key("exp"); claims.int(exp)
        claims.key("jti"); claims.string(jti)
        claims.key("scope"); claims.string(scopes.map(\.rawValue).sorted().joined(separator: " "))
        if proof != nil || certificate != nil {
            claims.key("cnf")
            claims.beginObject()
            if let proof {
                claims.key("jkt"); claims.string(proof.thumbprint)
            }
            if let certificate {
                claims.key("x5t#S256"); claims.string(Base64URL.encode(certificate))
            }
            claims.endObject()
        }
        claims.endObject()
        var header = JSONWriter()
        header.beginObject()
        header.key("alg"); header.string(signing.privateKey.algorithm.rawValue)
        header.key("typ"); header.string("at+jwt")
        header.key("kid"); header.string(signing.kid)
        header.endObject()
        let token: String
        do {
            token = try CompactJWS.sign(header: header.bytes, payload: claims.bytes, with: signing.privateKey)
            try registry.recordAccessToken(IssuedAccessToken(jti: jti, clientID: client.id, familyID: familyID, accountID: client.accountID, expiresMs: exp * 1000))
        } catch {
            throw OAuthError("server_error", "could not issue the token", status: 500)
        }
        return .json(headers: [("Pragma", "no-cache")]) { w in
            w.beginObject()
            w.key("access_token"); w.string(token)
            w.key("token_type"); w.string(proof == nil ? "Bearer" : "DPoP")
            w.key("expires_in"); w.int(settings.accessTokenTTLSeconds)
            w.key("scope"); w.string(scopes.map(\.rawValue).sorted().joined(separator: " "))
            if let refreshToken {
                w.key("refresh_token"); w.string(refreshToken)
            }
            w.endObject()
        }
    }

    // MARK: Revocation (RFC 7009)

    func revoke(_ request: OAuthHTTPRequest, nowMs: Int64) throws(OAuthError) -> OAuthHTTPResponse {
        try requireForm(request)
        let form = try FormBody.parse(request.body)
        let client = try clients.authenticate(request, form: form, nowMs: nowMs).client
        guard let token = form["token"], !token.isEmpty else { throw .invalidRequest("token is required") }
        if let hint = form["token_type_hint"], hint != "access_token", hint != "refresh_token" {
            throw OAuthError("unsupported_token_type", "token_type_hint must be access_token or refresh_token")
        }
        // Unknown, invalid or foreign tokens get the same 200: nothing is revealed (RFC 7009 §2.2).
        if token.hasPrefix("rt_"), let record = try? registry.refreshToken(hash: Self.hash(token)), record.clientID == client.id {
            onRevoked((try? registry.revokeRefreshFamily(familyID: record.familyID, nowMs: nowMs)) ?? [])
        } else if let verified = try? verifyOwnAccessToken(token, nowMs: nowMs), let jti = verified.jti,
            let issued = try? registry.accessToken(jti: jti), issued.clientID == client.id
        {
            try? registry.revokeAccessToken(jti: jti, nowMs: nowMs)
            onRevoked([jti])
        }
        return OAuthHTTPResponse(status: 200, headers: [], body: Array("{}".utf8))
    }

    /// Our own access token, fully verified (signature, type, issuer, audience, times).
    public func verifyOwnAccessToken(_ token: String, nowMs: Int64) throws(JWTError) -> VerifiedJWT {
        try JWTValidator.verify(token, policy: settings.accessTokenPolicy, keys: keys.keys.published, nowMs: nowMs)
    }

    // MARK: Introspection (RFC 7662)

    /// Client-authenticated; a client sees only its own tokens. Anything else is `{"active":false}`.
    func introspect(_ request: OAuthHTTPRequest, nowMs: Int64) throws(OAuthError) -> OAuthHTTPResponse {
        try requireForm(request)
        let form = try FormBody.parse(request.body)
        let client = try clients.authenticate(request, form: form, nowMs: nowMs).client
        guard let token = form["token"], !token.isEmpty else { throw .invalidRequest("token is required") }
        let inactive = OAuthHTTPResponse.json { w in
            w.beginObject(); w.key("active"); w.bool(false); w.endObject()
        }
        if token.hasPrefix("rt_") {
            guard let record = try? registry.refreshToken(hash: Self.hash(token)), record.clientID == client.id, record.usedMs == nil,
                record.revokedMs == nil, nowMs < record.familyExpiresMs
            else { return inactive }
            return .json { w in
                w.beginObject()
                w.key("active"); w.bool(true)
                w.key("token_type"); w.string("refresh_token")
                w.key("client_id"); w.string(record.clientID)
                w.key("scope"); w.string(record.scopes.map(\.rawValue).sorted().joined(separator: " "))
                w.key("exp"); w.int(record.familyExpiresMs / 1000)
                w.endObject()
            }
        }
        guard let verified = try? verifyOwnAccessToken(token, nowMs: nowMs), let jti = verified.jti,
            let issued = try? registry.accessToken(jti: jti), issued.revokedMs == nil, issued.clientID == client.id,
            let owner = try? registry.oauthClient(id: issued.clientID), owner.isActive
        else { return inactive }
        let claims = verified.claims
        return .json { w in
            w.beginObject()
            w.key("active"); w.bool(true)
            w.key("token_type"); w.string(claims["cnf"]?.objectValue?["jkt"] != nil ? "DPoP" : "Bearer")
            for name in ["scope", "client_id", "sub", "iss", "jti", "account_id"] {
                if let value = claims.string(name) {
                    w.key(name); w.string(value)
                }
            }
            w.key("aud"); w.string(settings.audience)
            for name in ["exp", "iat", "nbf"] {
                if let value = claims.seconds(name) {
                    w.key(name); w.int(value)
                }
            }
            if let cnf = claims["cnf"] {
                w.key("cnf"); w.value(cnf)
            }
            w.endObject()
        }
    }

    // MARK: Discovery

    func jwks() -> OAuthHTTPResponse {
        var all = keys.keys.published.keys
        if let identityKey { all.append(identityKey) }
        return .json(headers: [("Cache-Control", "public, max-age=60")]) { w in JWKSet(keys: all).write(to: &w) }
    }

    /// RFC 8414 metadata; `issuer` is exactly the issuer string used everywhere else.
    func metadata() -> OAuthHTTPResponse {
        .json { w in
            w.beginObject()
            w.key("issuer"); w.string(settings.issuer)
            w.key("token_endpoint"); w.string(settings.tokenEndpoint)
            w.key("jwks_uri"); w.string(settings.jwksURI)
            w.key("revocation_endpoint"); w.string(settings.revocationEndpoint)
            w.key("introspection_endpoint"); w.string(settings.introspectionEndpoint)
            func list(_ name: String, _ values: [String]) {
                w.key(name)
                w.beginArray()
                for value in values { w.string(value) }
                w.endArray()
            }
            list("grant_types_supported", ["client_credentials", "refresh_token"])
            list("response_types_supported", [])
            list("scopes_supported", Scope.allCases.map(\.rawValue))
            let methods = OAuthClientAuthMethod.allCases.map(\.rawValue)
            let algs = JWSAlgorithm.allCases.map(\.rawValue)
            list("token_endpoint_auth_methods_supported", methods)
            list("token_endpoint_auth_signing_alg_values_supported", algs)
            list("revocation_endpoint_auth_methods_supported", methods)
            list("revocation_endpoint_auth_signing_alg_values_supported", algs)
            list("introspection_endpoint_auth_methods_supported", methods)
            list("introspection_endpoint_auth_signing_alg_values_supported", algs)
            list("dpop_signing_alg_values_supported", settings.dpop.algorithms.map(\.rawValue).sorted())
            list("access_token_signing_alg_values_supported", [keys.keys.active.privateKey.algorithm.rawValue])
            w.key("tls_client_certificate_bound_access_tokens"); w.bool(true)
            w.endObject()
        }
    }
}
