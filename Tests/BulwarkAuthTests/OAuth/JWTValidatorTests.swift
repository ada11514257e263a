import BulwarkAuth
import BulwarkCore
import Crypto
import Foundation
import Testing

/// RFC 8725 hardening of `JWTValidator`: every attack from the JWT catalogue is refused.
@Suite struct JWTValidatorTests {
    let now: Int64 = 1_800_000_000_000
    let signing = JWSPrivateKey.ed25519(Curve25519.Signing.PrivateKey())
    var keys: JWKSet { JWKSet(keys: [PublicJWK(key: signing.publicKey, kid: "k1")]) }
    let policy = JWTPolicy(
        issuer: "https://as.example", audiences: ["https://rs.example"], algorithms: [.edDSA, .es256], types: ["at+jwt"],
        requiredClaims: ["iss", "exp", "aud", "sub", "iat", "jti"])

    func header(alg: String = "EdDSA", typ: String? = "at+jwt", kid: String? = "k1", extra: [(String, JSONValue)] = []) -> [(String, JSONValue)] {
        var h: [(String, JSONValue)] = [("alg", .string(alg))]
        if let typ { h.append(("typ", .string(typ))) }
        if let kid { h.append(("kid", .string(kid))) }
        return h + extra
    }

    func claims(iss: String = "https://as.example", aud: String = "https://rs.example", exp: Int64? = nil, nbf: Int64? = nil, iat: Int64? = nil)
        -> [(String, JSONValue)]
    {
        let t = now / 1000
        var c: [(String, JSONValue)] = [
            ("iss", .string(iss)), ("aud", .string(aud)), ("sub", .string("cl_1")), ("iat", TestJWT.n(iat ?? t)), ("exp", TestJWT.n(exp ?? t + 300)),
            ("jti", .string("j1")),
        ]
        if let nbf { c.append(("nbf", TestJWT.n(nbf))) }
        return c
    }

    func verify(_ token: String) throws(JWTError) -> VerifiedJWT {
        try JWTValidator.verify(token, policy: policy, keys: keys, nowMs: now)
    }

    @Test func acceptsAGoodToken() throws {
        let token = TestJWT.sign(header: header(), claims: claims(), key: signing)
        #expect(try verify(token).subject == "cl_1")
        // typ is a media type: case-insensitive, application/ prefix allowed.
        #expect(try verify(TestJWT.sign(header: header(typ: "application/AT+JWT"), claims: claims(), key: signing)).kid == "k1")
    }

    @Test(arguments: ["none", "None", "NONE", "nOnE", "HS256", "RS256", "es256", "eddsa", ""])
    func refusesAlgorithmsOutsideTheAllowlist(alg: String) {
        let token = TestJWT.unsigned(header: header(alg: alg), claims: claims(), signature: [1])
        #expect(throws: JWTError.algorithmNotAllowed) { try verify(token) }
        let unsignedNone = TestJWT.unsigned(header: header(alg: alg), claims: claims())
        #expect(throws: JWTError.self) { try verify(unsignedNone) }
    }

    @Test func refusesHS256MadeWithOurPublicKey() {
        // The classic key confusion: HMAC keyed with the public key bytes.
        guard case .ed25519(let publicKey) = signing.publicKey else { return }
        let input = Base64URL.encode(TestJWT.json(header(alg: "HS256"))) + "." + Base64URL.encode(TestJWT.json(claims()))
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: publicKey.rawRepresentation))
        #expect(throws: JWTError.algorithmNotAllowed) { try verify(input + "." + Base64URL.encode(Array(mac))) }
    }

    @Test(arguments: ["jwk", "jku", "x5u", "x5c", "crit"])
    func refusesKeySelectingHeaders(name: String) {
        let attacker = JWSPrivateKey.ed25519(Curve25519.Signing.PrivateKey())
        let value: JSONValue = name == "jwk" ? TestJWT.jwk(attacker.publicKey) : name == "x5c" || name == "crit" ? .array([.string("x")]) : .string("https://evil.example/jwks")
        // Signed by the attacker's key, with and without our kid.
        let token = TestJWT.sign(header: header(extra: [(name, value)]), claims: claims(), key: attacker)
        #expect(throws: JWTError.forbiddenHeader(name)) { try verify(token) }
    }

    @Test(arguments: ["../../../../dev/null", "/dev/null", "x' UNION SELECT '1';--", "|sleep 10", "", String(repeating: "A", count: 10_240), "k2", "K1"])
    func hostileOrUnknownKidMatchesNothing(kid: String) {
        let token = TestJWT.sign(header: header(kid: kid), claims: claims(), key: signing)
        #expect(throws: JWTError.self) { try verify(token) }
    }

    @Test func missingKidDoesNotFallBackToTheOnlyKey() {
        let token = TestJWT.sign(header: header(kid: nil), claims: claims(), key: signing)
        #expect(throws: JWTError.missingKeyID) { try verify(token) }
    }

    @Test func strippedZeroedAndForeignSignaturesFail() {
        let token = TestJWT.sign(header: header(), claims: claims(), key: signing)
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        #expect(throws: JWTError.malformed) { try verify(parts[0] + "." + parts[1] + ".") }
        #expect(throws: JWTError.malformed) { try verify(parts[0] + "." + parts[1]) }
        #expect(throws: JWTError.badSignature) { try verify(parts[0] + "." + parts[1] + "." + Base64URL.encode([UInt8](repeating: 0, count: 64))) }
        let other = TestJWT.sign(header: header(), claims: claims(), key: .ed25519(Curve25519.Signing.PrivateKey()))
        #expect(throws: JWTError.badSignature) { try verify(other) }
    }

    @Test func psychicECDSASignatureFails() {
        let p256 = JWSPrivateKey.p256(P256.Signing.PrivateKey())
        let set = JWKSet(keys: [PublicJWK(key: p256.publicKey, kid: "e1")])
        let input = Base64URL.encode(TestJWT.json(header(alg: "ES256", kid: "e1"))) + "." + Base64URL.encode(TestJWT.json(claims()))
        #expect(throws: JWTError.self) {
            try JWTValidator.verify(input + "." + Base64URL.encode([UInt8](repeating: 0, count: 64)), policy: policy, keys: set, nowMs: now)
        }
        // And the good ES256 path works.
        let good = TestJWT.sign(header: header(alg: "ES256", kid: "e1"), claims: claims(), key: p256)
        #expect((try? JWTValidator.verify(good, policy: policy, keys: set, nowMs: now)) != nil)
    }

    @Test func algorithmMustMatchTheKey() {
        let p256 = JWSPrivateKey.p256(P256.Signing.PrivateKey())
        let token = TestJWT.sign(header: header(alg: "ES256"), claims: claims(), key: p256)
        #expect(throws: JWTError.keyAlgorithmMismatch) { try verify(token) }
    }

    @Test func tamperedClaimsFail() {
        let token = TestJWT.sign(header: header(), claims: claims(), key: signing)
        let parts = token.split(separator: ".").map(String.init)
        var tampered = claims()
        tampered[2] = ("sub", .string("cl_admin"))
        #expect(throws: JWTError.badSignature) { try verify(parts[0] + "." + Base64URL.encode(TestJWT.json(tampered)) + "." + parts[2]) }
    }

    @Test func timesHonourTenSecondsOfLeewayAndNoMore() throws {
        let t = now / 1000
        #expect(throws: JWTError.expired) { try verify(TestJWT.sign(header: header(), claims: claims(exp: t - 10), key: signing)) }
        _ = try verify(TestJWT.sign(header: header(), claims: claims(exp: t - 9), key: signing))
        #expect(throws: JWTError.notYetValid) { try verify(TestJWT.sign(header: header(), claims: claims(nbf: t + 11), key: signing)) }
        _ = try verify(TestJWT.sign(header: header(), claims: claims(nbf: t + 10), key: signing))
        #expect(throws: JWTError.issuedInFuture) { try verify(TestJWT.sign(header: header(), claims: claims(iat: t + 120), key: signing)) }
    }

    @Test func issuerAndAudienceMatchExactly() {
        for iss in ["https://as.example/", "https://AS.example", "https://as.example.evil"] {
            #expect(throws: JWTError.wrongIssuer) { try verify(TestJWT.sign(header: header(), claims: claims(iss: iss), key: signing)) }
        }
        for aud in ["https://rs.example/", "https://other.example"] {
            #expect(throws: JWTError.wrongAudience) { try verify(TestJWT.sign(header: header(), claims: claims(aud: aud), key: signing)) }
        }
    }

    @Test(arguments: ["JWT", "id_token+jwt", "dpop+jwt", "logout+jwt", "rt+jwt"])
    func otherTokenTypesAreNotAccessTokens(typ: String) {
        #expect(throws: JWTError.typeNotAllowed) { try verify(TestJWT.sign(header: header(typ: typ), claims: claims(), key: signing)) }
    }

    @Test func untypedTokenIsRefusedWhereATypeIsRequired() {
        #expect(throws: JWTError.typeNotAllowed) { try verify(TestJWT.sign(header: header(typ: nil), claims: claims(), key: signing)) }
    }

    @Test func oversizedAndMalformedTokensAreRefusedCheaply() {
        #expect(throws: JWTError.tooLarge) { try verify(String(repeating: "a", count: 1 << 20)) }
        #expect(throws: JWTError.malformed) { try verify("a.b.c.d") }
        #expect(throws: JWTError.malformed) { try verify("!!.??.**") }
        // Duplicate members in the header: refused by the strict parser.
        let dup = Base64URL.encode(Array("{\"alg\":\"EdDSA\",\"alg\":\"none\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}".utf8))
        #expect(throws: JWTError.malformed) { try verify(dup + "." + Base64URL.encode(TestJWT.json(claims())) + ".AAAA") }
    }

    @Test func thumbprintMatchesRFC7638Example() throws {
        // RFC 7638 §3.1 example RSA key.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        let object = JSONObject([("kty", .string("RSA")), ("n", .string(n)), ("e", .string("AQAB")), ("alg", .string("PS256")), ("kid", .string("2011-04-29"))])
        #expect(try PublicJWK(json: object).thumbprint == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    }

    @Test func jwksRefusesPrivateAndSymmetricKeys() {
        let privateJWK = JSONObject([("kty", .string("OKP")), ("crv", .string("Ed25519")), ("x", .string(Base64URL.encode([UInt8](repeating: 1, count: 32)))), ("d", .string("AAAA"))])
        #expect(throws: JWKError.containsPrivateKey) { try PublicJWK(json: privateJWK) }
        let oct = JSONObject([("kty", .string("oct")), ("k", .string("AAAA"))])
        #expect(throws: JWKError.containsPrivateKey) { try PublicJWK(json: oct) }
    }
}
