import BulwarkAuth
import BulwarkCore
import Crypto
import Foundation
import Testing

/// Every RFC 9449 §4.3 check, one negative each, plus replay and the WebSocket challenge binding.
@Suite struct DPoPProofVerifierTests {
    let now: Int64 = 1_800_000_000_000
    let key = JWSPrivateKey.p256(P256.Signing.PrivateKey())
    let verifier = DPoPProofVerifier()
    let uri = "https://gw.example:8443/ws/v1"
    let token = "eyJ.access.token"

    func proof(
        typ: String? = "dpop+jwt", alg: String = "ES256", jwk: JSONValue? = nil, htm: String? = "GET", htu: String? = nil, iat: Int64? = nil,
        jti: String? = nil, ath: String? = nil, nonce: String? = "challenge-1", signer: JWSPrivateKey? = nil, extraHeader: [(String, JSONValue)] = []
    ) -> String {
        var header: [(String, JSONValue)] = []
        if let typ { header.append(("typ", .string(typ))) }
        header.append(("alg", .string(alg)))
        if let jwk { header.append(("jwk", jwk)) } else { header.append(("jwk", TestJWT.jwk(key.publicKey))) }
        header += extraHeader
        var claims: [(String, JSONValue)] = [("jti", .string(jti ?? Base64URL.encode(SecureRandom.bytes(count: 12))))]
        if let htm { claims.append(("htm", .string(htm))) }
        claims.append(("htu", .string(htu ?? uri)))
        claims.append(("iat", TestJWT.n(iat ?? now / 1000)))
        claims.append(("ath", .string(ath ?? Base64URL.encode(SHA256.hash(data: Array(token.utf8))))))
        if let nonce { claims.append(("nonce", .string(nonce))) }
        return TestJWT.sign(header: header, claims: claims, key: signer ?? key)
    }

    var expectation: DPoPExpectation {
        DPoPExpectation(method: "GET", uri: uri, accessToken: token, nonce: .exact("challenge-1"), boundThumbprint: PublicJWK(key: key.publicKey, kid: nil).thumbprint)
    }

    func check(_ proof: String, cache: NonceCache = NonceCache(), expecting: DPoPExpectation? = nil) throws(DPoPError) -> DPoPProof {
        try verifier.verify(proof: proof, expecting: expecting ?? expectation, replayCache: cache, nowMs: now)
    }

    @Test func acceptsAGoodProofOnceOnly() throws {
        let cache = NonceCache()
        let good = proof()
        #expect(try check(good, cache: cache).thumbprint == PublicJWK(key: key.publicKey, kid: nil).thumbprint)
        #expect(throws: DPoPError.replayed) { try check(good, cache: cache) }
    }

    @Test func exactlyOneHeader() {
        #expect(throws: DPoPError.self) { try verifier.verify(headerValues: [proof(), proof()], expecting: expectation, replayCache: NonceCache(), nowMs: now) }
        #expect(throws: DPoPError.self) { try verifier.verify(headerValues: [], expecting: expectation, replayCache: NonceCache(), nowMs: now) }
    }

    @Test func malformed() {
        #expect(throws: DPoPError.self) { try check("not.a.jwt.at.all") }
        #expect(throws: DPoPError.self) { try check("") }
    }

    @Test func typeMustBeDPoP() {
        #expect(throws: DPoPError.self) { try check(proof(typ: nil)) }
        #expect(throws: DPoPError.self) { try check(proof(typ: "JWT")) }
        #expect(throws: DPoPError.self) { try check(proof(typ: "at+jwt")) }
    }

    @Test(arguments: ["none", "HS256", "RS256", "EdDSA", "es256"])
    func algorithmMustBeAsymmetricAndMatchTheKey(alg: String) {
        #expect(throws: DPoPError.self) { try check(proof(alg: alg)) }
    }

    @Test func jwkRequiredPublicAndUsable() {
        let withPrivate = JSONValue.object(JSONObject(TestJWT.jwk(key.publicKey).objectValue!.members + [("d", .string("AAAA"))]))
        #expect(throws: DPoPError.invalidProof("jwk contains a private key")) { try check(proof(jwk: withPrivate)) }
        #expect(throws: DPoPError.self) { try check(proof(jwk: .string("x"))) }
    }

    @Test func signatureMustVerifyWithTheEmbeddedKey() {
        let other = JWSPrivateKey.p256(P256.Signing.PrivateKey())
        #expect(throws: DPoPError.invalidProof("bad signature")) { try check(proof(signer: other)) }
    }

    @Test func methodAndURIMustMatch() throws {
        #expect(throws: DPoPError.invalidProof("htm mismatch")) { try check(proof(htm: "POST")) }
        #expect(throws: DPoPError.invalidProof("htm mismatch")) { try check(proof(htm: "get")) }
        #expect(throws: DPoPError.self) { try check(proof(htm: nil)) }
        #expect(throws: DPoPError.invalidProof("htu mismatch")) { try check(proof(htu: "https://gw.example:8443/oauth/token")) }
        #expect(throws: DPoPError.invalidProof("htu mismatch")) { try check(proof(htu: "https://other.example:8443/ws/v1")) }
        // Normalisation: case of scheme and host, query and fragment ignored.
        _ = try check(proof(htu: "HTTPS://GW.example:8443/ws/v1?x=1#f"))
        _ = try check(DPoPProofVerifierTests.defaultPortProof(self), expecting: DPoPExpectation(
            method: "GET", uri: "https://gw.example/ws/v1", accessToken: token, nonce: .exact("challenge-1")))
    }

    static func defaultPortProof(_ t: DPoPProofVerifierTests) -> String { t.proof(htu: "https://gw.example:443/ws/v1") }

    @Test func iatWindow() throws {
        let t = now / 1000
        _ = try check(proof(iat: t + 10))
        _ = try check(proof(iat: t - 10))
        #expect(throws: DPoPError.self) { try check(proof(iat: t + 3600)) }
        #expect(throws: DPoPError.self) { try check(proof(iat: t - 3600)) }
        #expect(throws: DPoPError.self) { try check(proof(iat: t + 11)) }
    }

    @Test func nonceMustBeThisConnectionsChallenge() {
        #expect(throws: DPoPError.useNonce) { try check(proof(nonce: nil)) }
        #expect(throws: DPoPError.invalidProof("nonce mismatch")) { try check(proof(nonce: "challenge-of-another-connection")) }
    }

    @Test func athAndKeyBinding() {
        #expect(throws: DPoPError.invalidProof("ath mismatch")) { try check(proof(ath: Base64URL.encode(SHA256.hash(data: Array("other".utf8))))) }
        var bound = expectation
        bound.boundThumbprint = PublicJWK(key: JWSPrivateKey.p256(P256.Signing.PrivateKey()).publicKey, kid: nil).thumbprint
        #expect(throws: DPoPError.invalidProof("key does not match cnf.jkt")) { try check(proof(), expecting: bound) }
    }

    @Test func refusedProofDoesNotBurnItsJTI() throws {
        let cache = NonceCache()
        #expect(throws: DPoPError.self) { try check(proof(htm: "POST", jti: "same"), cache: cache) }
        _ = try check(proof(jti: "same"), cache: cache)
    }

    @Test func extraMembersAreAccepted() throws {
        _ = try check(proof(extraHeader: [("x-extra", .string("1"))]))
    }

    @Test func serverNonces() {
        let source = DPoPNonceSource(windowMs: 60_000)
        let nonce = source.current(nowMs: now)
        #expect(source.accepts(nonce, nowMs: now))
        #expect(source.accepts(nonce, nowMs: now + 60_000))
        #expect(!source.accepts(nonce, nowMs: now + 180_000))
        #expect(!source.accepts("forged", nowMs: now))
    }
}
