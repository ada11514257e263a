import BulwarkCore
import Crypto

/// The `public/auth` bearer grant (PROTOCOL.md §4.2): an access token, optionally DPoP-bound, on a
/// WebSocket. Shape only; `BearerVerifier` decides.
public struct BearerGrant: Sendable {
    public let accessToken: String
    public let dpop: String?
    public let scopes: Set<Scope>?

    public static let allowedMembers: Set<String> = ["grant_type", "access_token", "dpop", "scopes"]

    public init(accessToken: String, dpop: String?, scopes: Set<Scope>?) {
        self.accessToken = accessToken
        self.dpop = dpop
        self.scopes = scopes
    }

    public init(params: ParamsReader) throws(RPCError) {
        accessToken = try params.requiredString("access_token", maxLength: JWTPolicy.defaultMaxTokenBytes)
        dpop = try params.string("dpop", maxLength: DPoPProofVerifier.maxProofBytes)
        if let names = try params.stringArray("scopes", maxCount: 8, maxLength: 16) {
            guard let parsed = Scope.parseList(names.joined(separator: " ")), parsed.count == names.count else {
                throw RPCError.invalidParams("scopes", "unknown_scope")
            }
            scopes = parsed
        } else {
            scopes = nil
        }
    }
}

/// Who a verified bearer token speaks for: what `establishSession` needs.
public struct BearerIdentity: Sendable, Equatable {
    public let accountID: String
    /// The session's credential id: `jti` of the access token, so revoking the token ends exactly
    /// the sessions it opened.
    public let credentialID: String
    public let clientID: String?
    public let issuer: String
    public let scopes: Set<Scope>
    public let expiresAtMs: Int64
}

public enum BearerFailure: Error, Sendable, Equatable {
    /// Any token, key, binding or account failure: the client learns nothing more (`auth_failed`).
    case refused(String)
    /// The DPoP proof's `jti` was already used (`replay_detected`).
    case replayed
}

/// Verifies a bearer grant with the same rules as the HTTP side: our own tokens against our JWKS
/// and issued-token records (revocation), external issuers against their cached JWKS; DPoP bound
/// to this connection's challenge; mTLS binding against the connection's certificate.
public struct BearerVerifier: Sendable {
    public let settings: OAuthServerSettings
    let keys: SigningKeyRing
    let registry: any OAuthRegistry
    let issuers: [String: IssuerKeyCache]
    let dpopReplay: NonceCache

    public init(settings: OAuthServerSettings, keys: SigningKeyRing, registry: any OAuthRegistry, issuers: [IssuerKeyCache], dpopReplay: NonceCache) {
        self.settings = settings
        self.keys = keys
        self.registry = registry
        self.issuers = Dictionary(issuers.map { ($0.config.issuer, $0) }, uniquingKeysWith: { first, _ in first })
        self.dpopReplay = dpopReplay
    }

    public func verify(_ grant: BearerGrant, challenge: String, clientCertificateSHA256: [UInt8]?, nowMs: Int64) async throws(BearerFailure) -> BearerIdentity {
        // `iss` and `kid` are read unverified only to choose the key set; the token is then verified
        // in full against that issuer's own policy.
        guard let unverified = try? CompactJWS(grant.accessToken, maxBytes: JWTPolicy.defaultMaxTokenBytes), let iss = unverified.payload.string("iss")
        else { throw .refused("malformed token") }
        let verified: VerifiedJWT
        let identity: BearerIdentity
        if iss == settings.issuer {
            do throws(JWTError) {
                verified = try JWTValidator.verify(grant.accessToken, policy: settings.accessTokenPolicy, keys: keys.keys.published, nowMs: nowMs)
            } catch {
                throw .refused("token: \(error)")
            }
            identity = try ownIdentity(verified, nowMs: nowMs)
        } else if let cache = issuers[iss] {
            let kid = unverified.header.string("kid") ?? ""
            let keySet = kid.isEmpty || kid.utf8.count > JWTValidator.maxKeyIDLength ? cache.cachedKeys : await cache.keys(forKID: kid, nowMs: nowMs)
            do throws(JWTError) {
                verified = try JWTValidator.verify(grant.accessToken, policy: cache.config.policy, keys: keySet, nowMs: nowMs)
            } catch {
                throw .refused("token: \(error)")
            }
            identity = try externalIdentity(verified, config: cache.config, requested: grant.scopes, nowMs: nowMs)
        } else {
            throw .refused("unknown issuer")
        }
        try checkBinding(verified, grant: grant, challenge: challenge, clientCertificateSHA256: clientCertificateSHA256, nowMs: nowMs)
        var scopes = identity.scopes
        if let requested = grant.scopes {
            guard requested.isSubset(of: scopes) else { throw .refused("scopes exceed the token's") }
            scopes = requested
        }
        guard !scopes.isEmpty else { throw .refused("no scopes") }
        return BearerIdentity(
            accountID: identity.accountID, credentialID: identity.credentialID, clientID: identity.clientID, issuer: identity.issuer, scopes: scopes,
            expiresAtMs: identity.expiresAtMs)
    }

    private func ownIdentity(_ token: VerifiedJWT, nowMs: Int64) throws(BearerFailure) -> BearerIdentity {
        // Issued by us means recorded by us: an unrecorded or revoked jti, a revoked client or a
        // disabled account ends here.
        guard let jti = token.jti, let issued = try? registry.accessToken(jti: jti), issued.revokedMs == nil,
            let clientID = token.string("client_id"), clientID == issued.clientID, let client = try? registry.oauthClient(id: clientID), client.isActive,
            let account = try? registry.account(id: client.accountID), account.status == .enabled
        else { throw .refused("token not active") }
        let scopes = Scope.parseList(token.string("scope") ?? "") ?? []
        return BearerIdentity(
            accountID: account.id, credentialID: jti, clientID: clientID, issuer: settings.issuer, scopes: scopes.intersection(client.scopes),
            expiresAtMs: (token.expiresAt ?? 0) * 1000)
    }

    private func externalIdentity(_ token: VerifiedJWT, config: ExternalIssuerConfig, requested: Set<Scope>?, nowMs: Int64) throws(BearerFailure) -> BearerIdentity {
        guard let principal = token.string(config.accountClaim), let accountID = config.accounts[principal],
            let account = try? registry.account(id: accountID), account.status == .enabled
        else { throw .refused("no account for this principal") }
        let claimed = Scope.parseList(token.string("scope") ?? "") ?? []
        var scopes = claimed.intersection(config.scopes)
        // Trading needs the assurance the operator named (acr / amr), not just a valid token.
        let acrOK = token.string("acr").map(config.tradeACR.contains) ?? false
        let amr = token.claims["amr"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let amrOK = amr.contains(where: config.tradeAMR.contains)
        let assurance = config.tradeACR.isEmpty && config.tradeAMR.isEmpty ? true : (acrOK || amrOK)
        if !assurance {
            if requested?.contains(.trade) == true { throw .refused("trade needs acr/amr") }
            scopes.remove(.trade)
        }
        // External tokens are identified by issuer and jti (or, without jti, by their hash).
        let id = token.jti.map { "ext:" + $0 } ?? "ext:" + Base64URL.encode(SHA256.hash(data: Array((config.issuer + principal + "\(token.expiresAt ?? 0)").utf8)))
        return BearerIdentity(
            accountID: account.id, credentialID: id, clientID: token.string("client_id") ?? token.string("azp"), issuer: config.issuer, scopes: scopes,
            expiresAtMs: (token.expiresAt ?? 0) * 1000)
    }

    /// Sender constraints: `cnf.jkt` needs a DPoP proof for this connection (`htm` GET, `htu` the
    /// WebSocket URL, `ath`, `nonce` = challenge); `cnf.x5t#S256` needs the same client certificate.
    private func checkBinding(_ token: VerifiedJWT, grant: BearerGrant, challenge: String, clientCertificateSHA256: [UInt8]?, nowMs: Int64) throws(BearerFailure) {
        let cnf = token.claims["cnf"]?.objectValue
        if let cnf {
            for name in cnf.keys where name != "jkt" && name != "x5t#S256" { throw .refused("unknown confirmation method \(name)") }
        }
        if let thumbprint = cnf?["x5t#S256"]?.stringValue {
            guard let certificate = clientCertificateSHA256, ConstantTime.equals(Array(Base64URL.encode(certificate).utf8), Array(thumbprint.utf8)) else {
                throw .refused("certificate binding")
            }
        }
        let jkt = cnf?["jkt"]?.stringValue
        guard let proof = grant.dpop else {
            if jkt != nil { throw .refused("DPoP-bound token without a proof") }
            return
        }
        let expectation = DPoPExpectation(
            method: "GET", uri: settings.webSocketHTU, accessToken: grant.accessToken, nonce: .exact(challenge), boundThumbprint: jkt)
        do throws(DPoPError) {
            _ = try settings.dpop.verify(proof: proof, expecting: expectation, replayCache: dpopReplay, nowMs: nowMs)
        } catch {
            if error == .replayed { throw .replayed }
            throw .refused("dpop: \(error)")
        }
    }
}
