import BulwarkCore

/// The authorization server's settings (docs/operations.md, `oauth.*`).
public struct OAuthServerSettings: Sendable {
    /// `iss` of our tokens, and the base of every endpoint URL: `https://host:port`.
    public var issuer: String
    /// `aud` of our access tokens: the gateway as a resource server.
    public var audience: String
    public var accessTokenTTLSeconds: Int64
    /// Absolute lifetime of a refresh-token family; rotation never extends it. 0: no refresh tokens.
    public var refreshTokenTTLMs: Int64
    /// Refuse token requests without a DPoP proof (FAPI 2.0: sender-constrained tokens only).
    public var requireDPoP: Bool
    /// Demand a server nonce in DPoP proofs at the token endpoint (`use_dpop_nonce`).
    public var requireDPoPNonce: Bool
    public var dpop: DPoPProofVerifier
    /// Client assertions may be this far in the future / past on `iat`/`exp` (≤ 10 s).
    public var leewaySeconds: Int64
    /// Longest accepted client-assertion lifetime (`exp - iat`).
    public var maxAssertionLifetimeSeconds: Int64

    public static let maxAccessTokenTTLSeconds: Int64 = 3600

    public init(
        issuer: String, audience: String? = nil, accessTokenTTLSeconds: Int64 = 900, refreshTokenTTLMs: Int64 = 86_400_000,
        requireDPoP: Bool = false, requireDPoPNonce: Bool = false, dpop: DPoPProofVerifier = DPoPProofVerifier(), leewaySeconds: Int64 = 10,
        maxAssertionLifetimeSeconds: Int64 = 300
    ) {
        self.issuer = issuer
        self.audience = audience ?? issuer
        self.accessTokenTTLSeconds = min(max(accessTokenTTLSeconds, 1), Self.maxAccessTokenTTLSeconds)
        self.refreshTokenTTLMs = refreshTokenTTLMs
        self.requireDPoP = requireDPoP
        self.requireDPoPNonce = requireDPoPNonce
        self.dpop = dpop
        self.leewaySeconds = min(leewaySeconds, JWTPolicy.maxLeewaySeconds)
        self.maxAssertionLifetimeSeconds = maxAssertionLifetimeSeconds
    }

    public var tokenEndpoint: String { issuer + "/oauth/token" }
    public var revocationEndpoint: String { issuer + "/oauth/revoke" }
    public var introspectionEndpoint: String { issuer + "/oauth/introspect" }
    public var jwksURI: String { issuer + "/oauth/jwks" }
    /// The `htu` a WebSocket DPoP proof names: the https form of the WebSocket URL (PROTOCOL.md §4.2).
    public var webSocketHTU: String { issuer + "/ws/v1" }

    /// How long a retired signing key stays published: tokens it signed live at most this long.
    public var keyOverlapMs: Int64 { (accessTokenTTLSeconds + leewaySeconds + 60) * 1000 }

    /// The access-token policy for our own tokens (RFC 9068 + RFC 8725).
    public var accessTokenPolicy: JWTPolicy {
        JWTPolicy(
            issuer: issuer, audiences: [audience], algorithms: [.edDSA, .es256], types: ["at+jwt"], leewaySeconds: leewaySeconds,
            requiredClaims: ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"])
    }
}
