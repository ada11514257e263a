import BulwarkAuth
import BulwarkCore
import Crypto
import Foundation
import Testing

/// An in-memory credential directory for login tests.
final class MemoryDirectory: CredentialDirectory, @unchecked Sendable {
    var keys: [String: APIKeyRecord] = [:]
    var accounts: [String: AccountRecord] = [:]
    func apiKey(id: String) throws -> APIKeyRecord? { keys[id] }
    func account(id: String) throws -> AccountRecord? { accounts[id] }
}

@Suite struct SignatureLoginTests {
    let now: Int64 = 1_800_000_000_000
    let privateKey = Curve25519.Signing.PrivateKey()
    let directory = MemoryDirectory()
    let challenge = Base64URL.encode(SecureRandom.bytes(count: 32))

    init() {
        directory.accounts["a_1"] = AccountRecord(id: "a_1", name: "one", status: .enabled, createdMs: 0)
        directory.keys["k_1"] = APIKeyRecord(
            id: "k_1", accountID: "a_1", algorithm: .ed25519, publicKey: Array(privateKey.publicKey.rawRepresentation),
            scopes: [.read, .trade], label: "", status: .active, createdMs: 0, expiresMs: nil)
    }

    func login(window: Int64 = 5000) -> SignatureLogin {
        SignatureLogin(directory: directory, nonces: NonceCache(), recvWindowMs: window)
    }

    func grant(
        keyID: String = "k_1", timestampMs: Int64? = nil, nonce: String? = nil, scopes: [String]? = ["read"],
        signedScopes: [String]?? = nil, challenge: String? = nil, signer: Curve25519.Signing.PrivateKey? = nil
    ) -> SignatureGrant {
        let timestamp = timestampMs ?? now
        let nonceText = nonce ?? Base64URL.encode(SecureRandom.bytes(count: 16))
        let text = SigningString(
            keyID: keyID, challenge: challenge ?? self.challenge, timestampMs: timestamp, nonce: nonceText,
            scopes: signedScopes ?? scopes, keyExchangeHash: nil)
        let signature = try! (signer ?? privateKey).signature(for: Data(text.bytes))
        return SignatureGrant(keyID: keyID, timestampMs: timestamp, nonce: nonceText, scopes: scopes, signature: Array(signature))
    }

    @Test func validLoginGrantsRequestedScopes() throws {
        let result = login().verify(grant(), challenge: challenge, nowMs: now)
        let granted = try result.get()
        #expect(granted.scopes == [.read])
        #expect(granted.account.id == "a_1")
    }

    @Test func omittedScopesGrantTheKeysScopes() throws {
        let granted = try login().verify(grant(scopes: nil), challenge: challenge, nowMs: now).get()
        #expect(granted.scopes == [.read, .trade])
    }

    @Test func timestampWindowIsInclusiveAndRevealsSkew() {
        let verifier = login()
        #expect((try? verifier.verify(grant(timestampMs: now - 5000), challenge: challenge, nowMs: now).get()) != nil)
        #expect((try? verifier.verify(grant(timestampMs: now + 5000), challenge: challenge, nowMs: now).get()) != nil)
        for offset: Int64 in [-31_000, -5001, 5001, 6000] {
            let result = verifier.verify(grant(timestampMs: now + offset), challenge: challenge, nowMs: now)
            #expect(result == .failure(RPCError(.timestampOutOfWindow, skewMs: offset)))
        }
    }

    @Test func windowIsCappedAtSixtySeconds() {
        #expect(login(window: 3_600_000).recvWindowMs == 60_000)
    }

    @Test func challengeFromAnotherConnectionFails() {
        let other = Base64URL.encode(SecureRandom.bytes(count: 32))
        let result = login().verify(grant(challenge: other), challenge: challenge, nowMs: now)
        #expect(result == .failure(RPCError(.authFailed)))
    }

    @Test func nonceReuseIsAReplayButOnlyAfterAValidSignature() {
        let verifier = login()
        let nonce = Base64URL.encode(SecureRandom.bytes(count: 16))
        // A forged login with the victim's nonce must not burn it.
        #expect(verifier.verify(grant(nonce: nonce, signer: Curve25519.Signing.PrivateKey()), challenge: challenge, nowMs: now) == .failure(RPCError(.authFailed)))
        #expect((try? verifier.verify(grant(nonce: nonce), challenge: challenge, nowMs: now).get()) != nil)
        #expect(verifier.verify(grant(nonce: nonce), challenge: challenge, nowMs: now) == .failure(RPCError(.replayDetected, field: "params.nonce")))
    }

    @Test func everyOtherFailureIsTheSameAuthFailed() {
        let failures: [SignatureGrant] = [
            grant(keyID: "k_unknown"),
            grant(signer: Curve25519.Signing.PrivateKey()),
            grant(scopes: ["read", "trade"], signedScopes: ["read"]),
            grant(scopes: ["account"]),
            grant(scopes: ["superuser"]),
        ]
        for failure in failures {
            #expect(login().verify(failure, challenge: challenge, nowMs: now) == .failure(RPCError(.authFailed)))
        }
    }

    @Test func revokedExpiredAndDisabledFail() {
        let base = directory.keys["k_1"]!
        directory.keys["k_1"] = APIKeyRecord(
            id: base.id, accountID: base.accountID, algorithm: base.algorithm, publicKey: base.publicKey, scopes: base.scopes,
            label: "", status: .revoked, createdMs: 0, expiresMs: nil)
        #expect(login().verify(grant(), challenge: challenge, nowMs: now) == .failure(RPCError(.authFailed)))
        directory.keys["k_1"] = APIKeyRecord(
            id: base.id, accountID: base.accountID, algorithm: base.algorithm, publicKey: base.publicKey, scopes: base.scopes,
            label: "", status: .active, createdMs: 0, expiresMs: now)
        #expect(login().verify(grant(), challenge: challenge, nowMs: now) == .failure(RPCError(.authFailed)))
        directory.keys["k_1"] = base
        directory.accounts["a_1"] = AccountRecord(id: "a_1", name: "one", status: .disabled, createdMs: 0)
        #expect(login().verify(grant(), challenge: challenge, nowMs: now) == .failure(RPCError(.authFailed)))
    }
}

@Suite struct SignatureVerifierTests {
    let message = Array("BULWARK-AUTH-1\nk\nc\n1\nn\n\n".utf8)

    @Test func ed25519() throws {
        let key = Curve25519.Signing.PrivateKey()
        let signature = Array(try key.signature(for: Data(message)))
        let publicKey = Array(key.publicKey.rawRepresentation)
        #expect(SignatureVerifier.isValid(signature: signature, message: message, algorithm: .ed25519, publicKey: publicKey))
        var flipped = signature
        flipped[10] ^= 1
        #expect(!SignatureVerifier.isValid(signature: flipped, message: message, algorithm: .ed25519, publicKey: publicKey))
        #expect(!SignatureVerifier.isValid(signature: Array(signature.prefix(63)), message: message, algorithm: .ed25519, publicKey: publicKey))
        #expect(!SignatureVerifier.isValid(signature: [UInt8](repeating: 0, count: 64), message: message, algorithm: .ed25519, publicKey: publicKey))
    }

    @Test func es256RawRS() throws {
        let key = P256.Signing.PrivateKey()
        let signature = Array(try key.signature(for: Data(message)).rawRepresentation)
        let publicKey = Array(key.publicKey.x963Representation)
        #expect(publicKey.count == 65)
        #expect(SignatureVerifier.isValid(signature: signature, message: message, algorithm: .es256, publicKey: publicKey))
        // A DER-encoded signature is not the raw r‖s the protocol specifies.
        let der = Array(try key.signature(for: Data(message)).derRepresentation)
        #expect(!SignatureVerifier.isValid(signature: der, message: message, algorithm: .es256, publicKey: publicKey))
    }

    @Test func mlDSA65() throws {
        let key = try MLDSA65.PrivateKey()
        let signature = Array(try key.signature(for: Data(message)))
        let publicKey = Array(key.publicKey.rawRepresentation)
        #expect(publicKey.count == 1952)
        #expect(SignatureVerifier.isValid(signature: signature, message: message, algorithm: .mlDSA65, publicKey: publicKey))
        #expect(!SignatureVerifier.isValid(signature: signature, message: message + [0], algorithm: .mlDSA65, publicKey: publicKey))
    }

    @Test func theKeysAlgorithmDecidesNotTheSignature() throws {
        // An Ed25519 signature presented for a P-256 key is simply invalid.
        let ed = Curve25519.Signing.PrivateKey()
        let p256 = P256.Signing.PrivateKey()
        let signature = Array(try ed.signature(for: Data(message)))
        #expect(!SignatureVerifier.isValid(signature: signature, message: message, algorithm: .es256, publicKey: Array(p256.publicKey.x963Representation)))
        #expect(!SignatureVerifier.isValid(signature: signature, message: message, algorithm: .hmacSHA256, publicKey: []))
    }

    @Test func publicKeyWellFormedness() {
        #expect(SignatureVerifier.isWellFormedPublicKey(Array(Curve25519.Signing.PrivateKey().publicKey.rawRepresentation), algorithm: .ed25519))
        #expect(!SignatureVerifier.isWellFormedPublicKey([UInt8](repeating: 1, count: 31), algorithm: .ed25519))
        #expect(!SignatureVerifier.isWellFormedPublicKey([UInt8](repeating: 1, count: 65), algorithm: .es256))
        #expect(!SignatureVerifier.isWellFormedPublicKey([], algorithm: .hmacSHA256))
    }
}

@Suite struct NonceCacheTests {
    @Test func remembersWithinTheWindowAndForgetsAfter() {
        let cache = NonceCache()
        #expect(cache.record(keyID: "k", nonce: "n", nowMs: 0, expiresAtMs: 100) == .fresh)
        #expect(cache.record(keyID: "k", nonce: "n", nowMs: 50, expiresAtMs: 150) == .replayed)
        #expect(cache.record(keyID: "k2", nonce: "n", nowMs: 50, expiresAtMs: 150) == .fresh)
        #expect(cache.record(keyID: "k", nonce: "n", nowMs: 101, expiresAtMs: 200) == .fresh)
    }

    @Test func failsClosedWhenFull() {
        let cache = NonceCache(capacity: 2)
        #expect(cache.record(keyID: "k", nonce: "1", nowMs: 0, expiresAtMs: 1000) == .fresh)
        #expect(cache.record(keyID: "k", nonce: "2", nowMs: 0, expiresAtMs: 1000) == .fresh)
        #expect(cache.record(keyID: "k", nonce: "3", nowMs: 1, expiresAtMs: 1000) == .full)
        // Once entries expire there is room again.
        #expect(cache.record(keyID: "k", nonce: "3", nowMs: 1001, expiresAtMs: 2000) == .fresh)
    }
}

