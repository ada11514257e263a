import BulwarkCore

/// Why a JWT was refused. Logged for operators; clients only ever see a generic failure.
public enum JWTError: Error, Sendable, Equatable {
    case tooLarge
    case malformed
    case algorithmNotAllowed
    case typeNotAllowed
    /// `jku`, `x5u`, `jwk`, `x5c` or `crit` in a token header (keys only come from trusted sources).
    case forbiddenHeader(String)
    case missingKeyID
    case unknownKey
    case keyAlgorithmMismatch
    case badSignature
    case missingClaim(String)
    case wrongIssuer
    case wrongAudience
    case expired
    case notYetValid
    case issuedInFuture
}

/// What a JWT must satisfy to be accepted (RFC 8725 §3): one policy per kind of token and issuer,
/// so rules never overlap (an access token policy never accepts an ID token: `typ` differs).
public struct JWTPolicy: Sendable {
    public var issuer: String
    /// The token's `aud` must contain at least one of these, exactly.
    public var audiences: Set<String>
    public var algorithms: Set<JWSAlgorithm>
    /// Accepted `typ` values, compared case-insensitively (media types, RFC 7515 §4.1.9); an
    /// `application/` prefix is allowed. Empty: no `typ` check (external issuers that omit it).
    public var types: Set<String>
    /// Whether a token without `typ` is acceptable (only for issuers that do not type their tokens).
    public var typeOptional: Bool
    /// Clock skew allowed on `exp`, `nbf`, `iat`: at most 10 s (RFC 8725 practice, FAPI 2.0 §5.3.2).
    public var leewaySeconds: Int64
    public var maxTokenBytes: Int
    public var requiredClaims: [String]

    public static let maxLeewaySeconds: Int64 = 10
    public static let defaultMaxTokenBytes = 8192

    public init(
        issuer: String, audiences: Set<String>, algorithms: Set<JWSAlgorithm>, types: Set<String>, typeOptional: Bool = false,
        leewaySeconds: Int64 = 10, maxTokenBytes: Int = JWTPolicy.defaultMaxTokenBytes, requiredClaims: [String] = ["iss", "exp", "iat"]
    ) {
        self.issuer = issuer
        self.audiences = audiences
        self.algorithms = algorithms
        self.types = types
        self.typeOptional = typeOptional
        self.leewaySeconds = min(max(leewaySeconds, 0), Self.maxLeewaySeconds)
        self.maxTokenBytes = maxTokenBytes
        self.requiredClaims = requiredClaims
    }
}

/// A JWT whose signature, header and time claims have been checked.
public struct VerifiedJWT: Sendable {
    public let header: JSONObject
    public let claims: JSONObject
    public let kid: String

    public var subject: String? { claims.string("sub") }
    public var jti: String? { claims.string("jti") }
    public var expiresAt: Int64? { claims.seconds("exp") }
    public func string(_ name: String) -> String? { claims.string(name) }
}

/// Verifies JWTs against a policy and a key set. Pure: the clock is a parameter.
///
/// Order matters: everything about the header is checked before any key is looked up, the key is
/// looked up by exact `kid` with no default, the signature is checked before any claim is read.
public enum JWTValidator {
    /// Header members that would let the token choose its own key or its own rules.
    static let forbiddenHeaders = ["jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit", "b64", "zip", "enc"]
    /// Longest `kid` looked up; longer ones are refused without a lookup.
    public static let maxKeyIDLength = 256

    public static func verify(_ token: String, policy: JWTPolicy, keys: JWKSet, nowMs: Int64) throws(JWTError) -> VerifiedJWT {
        let jws: CompactJWS
        do throws(CompactJWS.Failure) {
            jws = try CompactJWS(token, maxBytes: policy.maxTokenBytes)
        } catch {
            throw error == .tooLarge ? .tooLarge : .malformed
        }
        let header = jws.header
        guard let algName = header.string("alg"), let alg = JWSAlgorithm(rawValue: algName), policy.algorithms.contains(alg) else {
            throw .algorithmNotAllowed
        }
        for name in forbiddenHeaders where header[name] != nil { throw .forbiddenHeader(name) }
        try checkType(header["typ"], policy: policy)
        guard let kid = header.string("kid"), !kid.isEmpty else { throw .missingKeyID }
        guard kid.utf8.count <= maxKeyIDLength, let jwk = keys.key(kid: kid) else { throw .unknownKey }
        guard jwk.key.algorithm == alg else { throw .keyAlgorithmMismatch }
        guard jwk.key.verifies(jws.signature, over: jws.signingInput) else { throw .badSignature }
        let claims = jws.payload
        try checkClaims(claims, policy: policy, nowMs: nowMs)
        return VerifiedJWT(header: header, claims: claims, kid: kid)
    }

    static func checkType(_ value: JSONValue?, policy: JWTPolicy) throws(JWTError) {
        guard let value else {
            if policy.typeOptional || policy.types.isEmpty { return }
            throw .typeNotAllowed
        }
        guard !policy.types.isEmpty else { return }
        guard let text = value.stringValue, typeMatches(text, policy.types) else { throw .typeNotAllowed }
    }

    /// `at+jwt` matches `at+jwt`, `AT+JWT` and `application/at+jwt` (RFC 7515 §4.1.9).
    public static func typeMatches(_ typ: String, _ accepted: Set<String>) -> Bool {
        var lowered = typ.lowercased()
        if lowered.hasPrefix("application/") { lowered.removeFirst("application/".count) }
        return accepted.contains(lowered)
    }

    static func checkClaims(_ claims: JSONObject, policy: JWTPolicy, nowMs: Int64) throws(JWTError) {
        for name in policy.requiredClaims where claims[name] == nil { throw .missingClaim(name) }
        // Exact comparison: no trailing-slash or case normalisation (RFC 8725 §3.8).
        if claims["iss"] != nil || policy.requiredClaims.contains("iss") {
            guard claims.string("iss") == policy.issuer else { throw .wrongIssuer }
        }
        if !policy.audiences.isEmpty {
            guard let audiences = claims.audiences(), audiences.contains(where: policy.audiences.contains) else { throw .wrongAudience }
        }
        try checkTimes(claims, leewaySeconds: policy.leewaySeconds, nowMs: nowMs)
    }

    /// `exp` (required), `nbf` and `iat` (when present) with the leeway; all must be integers.
    static func checkTimes(_ claims: JSONObject, leewaySeconds: Int64, nowMs: Int64) throws(JWTError) {
        let now = nowMs / 1000
        guard let exp = claims.seconds("exp") else { throw .missingClaim("exp") }
        guard now < exp + leewaySeconds else { throw .expired }
        if claims["nbf"] != nil {
            guard let nbf = claims.seconds("nbf") else { throw .malformed }
            guard nbf <= now + leewaySeconds else { throw .notYetValid }
        }
        if claims["iat"] != nil {
            guard let iat = claims.seconds("iat") else { throw .malformed }
            guard iat <= now + leewaySeconds else { throw .issuedInFuture }
        }
    }
}
