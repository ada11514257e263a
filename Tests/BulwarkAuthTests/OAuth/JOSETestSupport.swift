import BulwarkAuth
import BulwarkCore
import Crypto
import Foundation

/// Builds JWTs for tests, including the malformed and hostile ones no honest signer would make.
enum TestJWT {
    static func json(_ object: [(String, JSONValue)]) -> [UInt8] { JSONWriter.encode(.object(JSONObject(object))) }

    static func sign(header: [(String, JSONValue)], claims: [(String, JSONValue)], key: JWSPrivateKey) -> String {
        try! CompactJWS.sign(header: json(header), payload: json(claims), with: key)
    }

    static func unsigned(header: [(String, JSONValue)], claims: [(String, JSONValue)], signature: [UInt8] = []) -> String {
        Base64URL.encode(json(header)) + "." + Base64URL.encode(json(claims)) + "." + Base64URL.encode(signature)
    }

    static func s(_ text: String) -> JSONValue { .string(text) }
    static func n(_ value: Int64) -> JSONValue { .number(JSONNumber(value)) }

    static func jwk(_ key: JWSPublicKey) -> JSONValue {
        var w = JSONWriter()
        PublicJWK(key: key, kid: nil).write(to: &w)
        return try! StrictJSONParser().parse(w.bytes)
    }
}

/// An in-memory OAuth registry.
final class MemoryOAuthRegistry: OAuthRegistry, @unchecked Sendable {
    let lock = NSLock()
    var clients: [String: OAuthClientRecord] = [:]
    var accounts: [String: AccountRecord] = [:]
    var refresh: [String: RefreshTokenRecord] = [:]
    var access: [String: IssuedAccessToken] = [:]

    func oauthClient(id: String) throws -> OAuthClientRecord? { lock.withLock { clients[id] } }
    func account(id: String) throws -> AccountRecord? { lock.withLock { accounts[id] } }
    func insertRefreshToken(_ record: RefreshTokenRecord) throws { lock.withLock { refresh[record.hash] = record } }
    func refreshToken(hash: String) throws -> RefreshTokenRecord? { lock.withLock { refresh[hash] } }
    func markRefreshTokenUsed(hash: String, nowMs: Int64) throws -> Bool {
        lock.withLock {
            guard var record = refresh[hash], record.usedMs == nil else { return false }
            record.usedMs = nowMs
            refresh[hash] = record
            return true
        }
    }
    func revokeRefreshFamily(familyID: String, nowMs: Int64) throws -> [String] {
        lock.withLock {
            for (hash, var record) in refresh where record.familyID == familyID {
                record.revokedMs = nowMs
                refresh[hash] = record
            }
            var jtis: [String] = []
            for (jti, token) in access where token.familyID == familyID && token.revokedMs == nil {
                access[jti] = IssuedAccessToken(
                    jti: jti, clientID: token.clientID, familyID: token.familyID, accountID: token.accountID, expiresMs: token.expiresMs, revokedMs: nowMs)
                jtis.append(jti)
            }
            return jtis
        }
    }
    func recordAccessToken(_ token: IssuedAccessToken) throws { lock.withLock { access[token.jti] = token } }
    func accessToken(jti: String) throws -> IssuedAccessToken? { lock.withLock { access[jti] } }
    func revokeAccessToken(jti: String, nowMs: Int64) throws {
        lock.withLock {
            guard let token = access[jti] else { return }
            access[jti] = IssuedAccessToken(
                jti: jti, clientID: token.clientID, familyID: token.familyID, accountID: token.accountID, expiresMs: token.expiresMs, revokedMs: nowMs)
        }
    }
}
