import BulwarkCore
import Crypto

/// Why a DPoP proof was refused (RFC 9449 §4.3). `useNonce` is not a failure of the client's key:
/// it asks the client to retry with the server's nonce (`use_dpop_nonce`).
public enum DPoPError: Error, Sendable, Equatable {
    case invalidProof(String)
    case useNonce
    case replayed
}

/// What a request must match, and what the proof is checked against.
public struct DPoPExpectation: Sendable {
    public var method: String
    /// The target URI; compared after RFC 3986 §6.2.2/6.2.3 normalisation, without query or fragment.
    public var uri: String
    /// The access token sent with the proof (resource access): `ath` must be its hash.
    public var accessToken: String?
    /// The nonce the proof must carry (the server's `DPoP-Nonce`, or the WebSocket challenge).
    public var nonce: NonceRule
    /// The token's `cnf.jkt`: the proof's key must be this one.
    public var boundThumbprint: String?

    public enum NonceRule: Sendable {
        case none
        /// Exactly this value (the connection's challenge).
        case exact(String)
        /// Any value the predicate accepts (server nonces that rotate).
        case accepted(@Sendable (String) -> Bool)
    }

    public init(method: String, uri: String, accessToken: String? = nil, nonce: NonceRule = .none, boundThumbprint: String? = nil) {
        self.method = method
        self.uri = uri
        self.accessToken = accessToken
        self.nonce = nonce
        self.boundThumbprint = boundThumbprint
    }
}

/// A proof that passed every check.
public struct DPoPProof: Sendable {
    /// RFC 7638 thumbprint of the proof's key: `cnf.jkt` of a token bound to it.
    public let thumbprint: String
    public let jti: String
}

/// The RFC 9449 §4.3 checks, as one pure function over an injected clock and replay cache.
public struct DPoPProofVerifier: Sendable {
    public var algorithms: Set<JWSAlgorithm>
    /// How old a proof's `iat` may be.
    public var maxAgeSeconds: Int64
    /// How far in the future `iat` may be (clock skew): FAPI 2.0 accepts 10 s.
    public var futureLeewaySeconds: Int64
    public static let maxProofBytes = 4096
    public static let maxJTILength = 128

    public init(algorithms: Set<JWSAlgorithm> = Set(JWSAlgorithm.allCases), maxAgeSeconds: Int64 = 60, futureLeewaySeconds: Int64 = 10) {
        self.algorithms = algorithms
        self.maxAgeSeconds = maxAgeSeconds
        self.futureLeewaySeconds = futureLeewaySeconds
    }

    /// `headerValues`: every `DPoP` header of the request (check 1: exactly one).
    public func verify(
        headerValues: [String], expecting expected: DPoPExpectation, replayCache: NonceCache, nowMs: Int64
    ) throws(DPoPError) -> DPoPProof {
        guard headerValues.count == 1 else { throw .invalidProof("exactly one DPoP header is required") }
        return try verify(proof: headerValues[0], expecting: expected, replayCache: replayCache, nowMs: nowMs)
    }

    public func verify(proof: String, expecting expected: DPoPExpectation, replayCache: NonceCache, nowMs: Int64) throws(DPoPError) -> DPoPProof {
        // (2) a single well-formed JWT
        let jws: CompactJWS
        do throws(CompactJWS.Failure) {
            jws = try CompactJWS(proof, maxBytes: Self.maxProofBytes)
        } catch {
            throw .invalidProof("malformed proof")
        }
        let header = jws.header
        let claims = jws.payload
        // (4) typ
        guard let typ = header.string("typ"), JWTValidator.typeMatches(typ, ["dpop+jwt"]) else { throw .invalidProof("typ must be dpop+jwt") }
        // (5) an asymmetric algorithm we allow (there is no way to name none or HMAC)
        guard let algName = header.string("alg"), let alg = JWSAlgorithm(rawValue: algName), algorithms.contains(alg) else {
            throw .invalidProof("alg not allowed")
        }
        // (7) a public key only
        guard let jwkObject = header["jwk"]?.objectValue else { throw .invalidProof("missing jwk") }
        let jwk: PublicJWK
        do throws(JWKError) {
            jwk = try PublicJWK(json: jwkObject)
        } catch {
            throw .invalidProof(error == .containsPrivateKey ? "jwk contains a private key" : "unusable jwk")
        }
        guard jwk.key.algorithm == alg else { throw .invalidProof("alg does not match jwk") }
        for name in ["jku", "x5u", "x5c", "kid", "crit"] where header[name] != nil { throw .invalidProof("header \(name) not allowed") }
        // (6) signature
        guard jwk.key.verifies(jws.signature, over: jws.signingInput) else { throw .invalidProof("bad signature") }
        // (3) required claims
        guard let jti = claims.string("jti"), !jti.isEmpty, jti.utf8.count <= Self.maxJTILength else { throw .invalidProof("missing or bad jti") }
        guard let htm = claims.string("htm") else { throw .invalidProof("missing htm") }
        guard let htu = claims.string("htu") else { throw .invalidProof("missing htu") }
        guard let iat = claims.seconds("iat") else { throw .invalidProof("missing iat") }
        // (8) method, case-sensitive (RFC 9110 §9.1)
        guard htm == expected.method else { throw .invalidProof("htm mismatch") }
        // (9) URI, normalised, without query and fragment
        guard let got = DPoPURI.normalized(htu), got == DPoPURI.normalized(expected.uri) else { throw .invalidProof("htu mismatch") }
        // (11) freshness: iat inside the window
        let now = nowMs / 1000
        guard iat <= now + futureLeewaySeconds else { throw .invalidProof("iat in the future") }
        guard iat >= now - maxAgeSeconds else { throw .invalidProof("iat too old") }
        if claims["exp"] != nil {
            guard let exp = claims.seconds("exp"), now < exp + futureLeewaySeconds else { throw .invalidProof("expired proof") }
        }
        if claims["nbf"] != nil {
            guard let nbf = claims.seconds("nbf"), nbf <= now + futureLeewaySeconds else { throw .invalidProof("proof not yet valid") }
        }
        // (12) access token hash and key binding
        if let token = expected.accessToken {
            guard let ath = claims.string("ath") else { throw .invalidProof("missing ath") }
            let digest = Base64URL.encode(SHA256.hash(data: Array(token.utf8)))
            guard ConstantTime.equals(Array(ath.utf8), Array(digest.utf8)) else { throw .invalidProof("ath mismatch") }
        }
        let thumbprint = jwk.thumbprint
        if let bound = expected.boundThumbprint {
            guard ConstantTime.equals(Array(bound.utf8), Array(thumbprint.utf8)) else { throw .invalidProof("key does not match cnf.jkt") }
        }
        // (10) nonce
        switch expected.nonce {
        case .none:
            break
        case .exact(let value):
            guard let nonce = claims.string("nonce") else { throw .useNonce }
            guard ConstantTime.equals(Array(nonce.utf8), Array(value.utf8)) else { throw .invalidProof("nonce mismatch") }
        case .accepted(let accepts):
            guard let nonce = claims.string("nonce"), accepts(nonce) else { throw .useNonce }
        }
        // (11) single use: remembered for as long as the proof could still be accepted. Recorded last,
        // so a proof refused for another reason does not burn its jti.
        let expiry = (iat + maxAgeSeconds + futureLeewaySeconds + 1) * 1000
        switch replayCache.record(keyID: "dpop:" + thumbprint, nonce: jti, nowMs: nowMs, expiresAtMs: expiry) {
        case .fresh: break
        case .replayed: throw .replayed
        case .full: throw .invalidProof("replay cache full")
        }
        return DPoPProof(thumbprint: thumbprint, jti: jti)
    }
}

/// RFC 3986 §6.2.2/§6.2.3 normalisation of `htu`: scheme and host lower-cased, the default port
/// dropped, an empty path as `/`, query and fragment removed.
public enum DPoPURI {
    public static func normalized(_ uri: String) -> String? {
        var text = Substring(uri)
        if let cut = text.firstIndex(where: { $0 == "?" || $0 == "#" }) { text = text[..<cut] }
        guard let schemeEnd = text.range(of: "://") else { return nil }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "https" || scheme == "http" else { return nil }
        let rest = text[schemeEnd.upperBound...]
        let pathStart = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<pathStart].lowercased()
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        let path = rest[pathStart...].isEmpty ? "/" : String(rest[pathStart...])
        let defaultPort = scheme == "https" ? ":443" : ":80"
        if authority.hasSuffix(defaultPort) { authority.removeLast(defaultPort.count) }
        return scheme + "://" + authority + path
    }
}
