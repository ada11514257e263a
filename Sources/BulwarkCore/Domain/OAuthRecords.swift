/// How an OAuth client proves who it is at the token, revocation and introspection endpoints.
public enum OAuthClientAuthMethod: String, Sendable, CaseIterable {
    /// A JWT signed with the client's registered key (RFC 7523 §2.2): preferred, FAPI 2.0.
    case privateKeyJWT = "private_key_jwt"
    /// HTTP Basic with a gateway-generated secret (RFC 6749 §2.3.1).
    case clientSecretBasic = "client_secret_basic"
}

/// A registered OAuth client: a machine identity of one account.
public struct OAuthClientRecord: Sendable, Equatable {
    public let id: String
    public let accountID: String
    public let authMethod: OAuthClientAuthMethod
    /// The client's public JWK Set as JSON text (private_key_jwt).
    public let jwks: String?
    /// SHA-256 of the generated secret (client_secret_basic). The secret has 256 bits of entropy, so
    /// a fast hash is enough: there is nothing to brute-force.
    public let secretHash: [UInt8]?
    public let scopes: Set<Scope>
    public let label: String
    public let createdMs: Int64
    public let revokedMs: Int64?

    public init(
        id: String, accountID: String, authMethod: OAuthClientAuthMethod, jwks: String?, secretHash: [UInt8]?, scopes: Set<Scope>,
        label: String, createdMs: Int64, revokedMs: Int64?
    ) {
        self.id = id
        self.accountID = accountID
        self.authMethod = authMethod
        self.jwks = jwks
        self.secretHash = secretHash
        self.scopes = scopes
        self.label = label
        self.createdMs = createdMs
        self.revokedMs = revokedMs
    }

    public var isActive: Bool { revokedMs == nil }
}

/// One refresh token (stored by hash) in a family that started with one client_credentials grant.
/// Each use rotates it: the old one is marked used, a new one joins the family. Presenting a used
/// one again is reuse, and revokes the family (RFC 9700 §4.14.2).
public struct RefreshTokenRecord: Sendable, Equatable {
    public let hash: String
    public let familyID: String
    public let clientID: String
    public let accountID: String
    public let scopes: Set<Scope>
    /// DPoP key thumbprint the family is bound to (RFC 9449 §5: refresh tokens of public clients;
    /// we bind them whenever the grant was DPoP-bound).
    public let jkt: String?
    public let createdMs: Int64
    /// The family's absolute expiry: rotation never extends it.
    public let familyExpiresMs: Int64
    public var usedMs: Int64?
    public var revokedMs: Int64?

    public init(
        hash: String, familyID: String, clientID: String, accountID: String, scopes: Set<Scope>, jkt: String?, createdMs: Int64,
        familyExpiresMs: Int64, usedMs: Int64? = nil, revokedMs: Int64? = nil
    ) {
        self.hash = hash
        self.familyID = familyID
        self.clientID = clientID
        self.accountID = accountID
        self.scopes = scopes
        self.jkt = jkt
        self.createdMs = createdMs
        self.familyExpiresMs = familyExpiresMs
        self.usedMs = usedMs
        self.revokedMs = revokedMs
    }
}

/// An access token the gateway issued, remembered until it expires so it can be revoked
/// (RFC 7009) and its live sessions found.
public struct IssuedAccessToken: Sendable, Equatable {
    public let jti: String
    public let clientID: String
    public let familyID: String?
    public let accountID: String
    public let expiresMs: Int64
    public let revokedMs: Int64?

    public init(jti: String, clientID: String, familyID: String?, accountID: String, expiresMs: Int64, revokedMs: Int64? = nil) {
        self.jti = jti
        self.clientID = clientID
        self.familyID = familyID
        self.accountID = accountID
        self.expiresMs = expiresMs
        self.revokedMs = revokedMs
    }
}

/// A token-signing key. The private part is sealed with the master key; retired keys stay published
/// until every token they signed has expired.
public struct SigningKeyRecord: Sendable, Equatable {
    public let kid: String
    public let algorithm: String
    public let sealedPrivateKey: String
    public let createdMs: Int64
    public let retiredMs: Int64?

    public init(kid: String, algorithm: String, sealedPrivateKey: String, createdMs: Int64, retiredMs: Int64?) {
        self.kid = kid
        self.algorithm = algorithm
        self.sealedPrivateKey = sealedPrivateKey
        self.createdMs = createdMs
        self.retiredMs = retiredMs
    }
}

/// What the authorization server needs from storage.
public protocol OAuthRegistry: Sendable {
    func oauthClient(id: String) throws -> OAuthClientRecord?
    func account(id: String) throws -> AccountRecord?
    func insertRefreshToken(_ record: RefreshTokenRecord) throws
    func refreshToken(hash: String) throws -> RefreshTokenRecord?
    /// Marks the token used if it was not; false when it already was (reuse), atomically.
    func markRefreshTokenUsed(hash: String, nowMs: Int64) throws -> Bool
    /// Revokes every refresh and access token of a family; returns the access tokens' jtis.
    func revokeRefreshFamily(familyID: String, nowMs: Int64) throws -> [String]
    func recordAccessToken(_ token: IssuedAccessToken) throws
    func accessToken(jti: String) throws -> IssuedAccessToken?
    func revokeAccessToken(jti: String, nowMs: Int64) throws
}
