import BulwarkCore
import Crypto

/// Client authentication at the token, revocation and introspection endpoints:
/// `private_key_jwt` (RFC 7523 §2.2, preferred) or `client_secret_basic` (RFC 6749 §2.3.1).
/// Exactly one method per request; a client may only use the method it was registered with.
public struct ClientAuthenticator: Sendable {
    public static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    let registry: any OAuthRegistry
    let settings: OAuthServerSettings
    /// Client-assertion `jti`s, single use until they expire.
    let assertionReplay: NonceCache

    public init(registry: any OAuthRegistry, settings: OAuthServerSettings, assertionReplay: NonceCache) {
        self.registry = registry
        self.settings = settings
        self.assertionReplay = assertionReplay
    }

    public struct Authenticated: Sendable {
        public let client: OAuthClientRecord
        public let method: OAuthClientAuthMethod
    }

    public func authenticate(_ request: OAuthHTTPRequest, form: [String: String], nowMs: Int64) throws(OAuthError) -> Authenticated {
        let authorization = request.headerValues("Authorization")
        let basic = authorization.first { $0.lowercased().hasPrefix("basic ") }
        let assertion = form["client_assertion"]
        switch (basic, assertion) {
        case (nil, nil): throw .invalidClient("no client authentication")
        case (.some, .some): throw .invalidRequest("more than one client authentication method")
        case (let header?, nil):
            guard authorization.count == 1 else { throw .invalidRequest("more than one Authorization header") }
            return try authenticateBasic(header, form: form)
        case (nil, let jwt?):
            guard form["client_assertion_type"] == Self.assertionType else { throw .invalidClient("unsupported client_assertion_type") }
            return try authenticateAssertion(jwt, form: form, nowMs: nowMs)
        }
    }

    private func client(_ id: String) throws(OAuthError) -> OAuthClientRecord {
        guard id.utf8.count <= 64, let client = try? registry.oauthClient(id: id), client.isActive,
            let account = try? registry.account(id: client.accountID), account.status == .enabled
        else { throw .invalidClient() }
        return client
    }

    private func authenticateBasic(_ header: String, form: [String: String]) throws(OAuthError) -> Authenticated {
        let encoded = header.dropFirst("basic ".count).trimmingSpaces
        // Standard base64 here (RFC 7617), not base64url.
        guard let decoded = StandardBase64.decode(String(encoded)), let text = String(validating: decoded, as: UTF8.self),
            let colon = text.firstIndex(of: ":"),
            let id = FormBody.decode(Array(text[..<colon].utf8)), let secret = FormBody.decode(Array(text[text.index(after: colon)...].utf8))
        else { throw .invalidClient("malformed Basic credentials") }
        if let formID = form["client_id"], formID != id { throw .invalidRequest("client_id does not match") }
        let client = try client(id)
        guard client.authMethod == .clientSecretBasic, let expected = client.secretHash else { throw .invalidClient() }
        let given = Array(SHA256.hash(data: Array(secret.utf8)))
        guard ConstantTime.equals(given, expected) else { throw .invalidClient() }
        return Authenticated(client: client, method: .clientSecretBasic)
    }

    /// RFC 7523 §3: `iss` = `sub` = client_id, `aud` the issuer or the token endpoint, `exp` required,
    /// `iat` not in the future beyond the leeway, `jti` single use; signed with a registered key.
    private func authenticateAssertion(_ jwt: String, form: [String: String], nowMs: Int64) throws(OAuthError) -> Authenticated {
        // The client id is read before verification only to find the key; nothing else is trusted yet.
        guard let unverified = try? CompactJWS(jwt, maxBytes: JWTPolicy.defaultMaxTokenBytes), let id = unverified.payload.string("sub") else {
            throw .invalidClient("malformed client assertion")
        }
        if let formID = form["client_id"], formID != id { throw .invalidClient("client_id does not match the assertion") }
        let client = try client(id)
        guard client.authMethod == .privateKeyJWT, let jwksText = client.jwks,
            let json = try? StrictJSONParser().parse(jwksText), let keys = try? JWKSet(json: json)
        else { throw .invalidClient() }
        let policy = JWTPolicy(
            issuer: id, audiences: [settings.issuer, settings.tokenEndpoint], algorithms: Set(JWSAlgorithm.allCases), types: [],
            typeOptional: true, leewaySeconds: settings.leewaySeconds, requiredClaims: ["iss", "sub", "aud", "exp", "jti"])
        let verified: VerifiedJWT
        do throws(JWTError) {
            verified = try JWTValidator.verify(jwt, policy: policy, keys: keys, nowMs: nowMs)
        } catch {
            throw .invalidClient("client assertion refused: \(error)")
        }
        // An access token or ID token signed by the client is not an assertion (RFC 8725 §3.12).
        if let typ = verified.header.string("typ"), !JWTValidator.typeMatches(typ, ["jwt", "client-authentication+jwt"]) {
            throw .invalidClient("client assertion typ not accepted")
        }
        guard verified.subject == id, let jti = verified.jti, !jti.isEmpty, jti.utf8.count <= 128, let exp = verified.expiresAt else {
            throw .invalidClient("client assertion claims")
        }
        let iat = verified.claims.seconds("iat") ?? (nowMs / 1000)
        guard exp - iat <= settings.maxAssertionLifetimeSeconds else { throw .invalidClient("client assertion lives too long") }
        switch assertionReplay.record(keyID: "assertion:" + id, nonce: jti, nowMs: nowMs, expiresAtMs: (exp + settings.leewaySeconds + 1) * 1000) {
        case .fresh: break
        case .replayed: throw .invalidClient("client assertion replayed")
        case .full: throw OAuthError("temporarily_unavailable", "try again", status: 503)
        }
        return Authenticated(client: client, method: .privateKeyJWT)
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}

/// Standard base64 with padding (RFC 4648 §4), for HTTP Basic credentials only.
enum StandardBase64 {
    static func decode(_ text: String) -> [UInt8]? {
        var urlSafe = text.replacingOccurrencesOfPlusSlash()
        while urlSafe.hasSuffix("=") { urlSafe.removeLast() }
        return Base64URL.decode(urlSafe)
    }
}

extension String {
    fileprivate func replacingOccurrencesOfPlusSlash() -> String {
        String(map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }
}
