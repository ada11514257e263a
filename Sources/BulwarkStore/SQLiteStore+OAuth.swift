import BulwarkCore
import Foundation
import GRDB

/// OAuth clients, refresh-token families, issued access tokens and token-signing keys.
extension SQLiteStore {
    // MARK: Clients

    public func insertOAuthClient(_ record: OAuthClientRecord) throws {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO oauth_clients (id, account_id, auth_method, jwks, secret_hash, scopes, label, created_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.id, record.accountID, record.authMethod.rawValue, record.jwks, record.secretHash.map { Data($0) },
                    Self.scopeText(record.scopes), record.label, record.createdMs,
                ])
        }
    }

    public func oauthClient(id: String) throws -> OAuthClientRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM oauth_clients WHERE id = ?", arguments: [id]).map(Self.client)
        }
    }

    public func oauthClients(accountID: String?) throws -> [OAuthClientRecord] {
        try pool.read { db in
            if let accountID {
                return try Row.fetchAll(db, sql: "SELECT * FROM oauth_clients WHERE account_id = ? ORDER BY created_ms", arguments: [accountID])
                    .map(Self.client)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM oauth_clients ORDER BY created_ms").map(Self.client)
        }
    }

    /// Revokes the client and every token it holds; running servers end its sessions (change feed).
    public func revokeOAuthClient(id: String, nowMs: Int64) throws -> [String] {
        try pool.write { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM oauth_clients WHERE id = ?", arguments: [id]) != nil else {
                throw StoreError.notFound("client \(id)")
            }
            try db.execute(sql: "UPDATE oauth_clients SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL", arguments: [nowMs, id])
            try db.execute(
                sql: "UPDATE oauth_refresh_tokens SET revoked_ms = ? WHERE client_id = ? AND revoked_ms IS NULL", arguments: [nowMs, id])
            let jtis = try String.fetchAll(
                db, sql: "SELECT jti FROM oauth_access_tokens WHERE client_id = ? AND revoked_ms IS NULL AND expires_ms > ?",
                arguments: [id, nowMs])
            try db.execute(sql: "UPDATE oauth_access_tokens SET revoked_ms = ? WHERE client_id = ? AND revoked_ms IS NULL", arguments: [nowMs, id])
            for jti in jtis { try Self.appendChange(db, kind: .tokenRevoked, subject: jti, nowMs: nowMs) }
            return jtis
        }
    }

    private static func client(_ row: Row) -> OAuthClientRecord {
        let hash: Data? = row["secret_hash"]
        return OAuthClientRecord(
            id: row["id"], accountID: row["account_id"], authMethod: OAuthClientAuthMethod(rawValue: row["auth_method"]) ?? .privateKeyJWT,
            jwks: row["jwks"], secretHash: hash.map { Array($0) }, scopes: Scope.parseList(row["scopes"]) ?? [], label: row["label"],
            createdMs: row["created_ms"], revokedMs: row["revoked_ms"])
    }

    static func scopeText(_ scopes: Set<Scope>) -> String { scopes.map(\.rawValue).sorted().joined(separator: " ") }

    // MARK: Refresh tokens

    public func insertRefreshToken(_ record: RefreshTokenRecord) throws {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO oauth_refresh_tokens (hash, family_id, client_id, account_id, scopes, jkt, created_ms, family_expires_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.hash, record.familyID, record.clientID, record.accountID, Self.scopeText(record.scopes), record.jkt, record.createdMs,
                    record.familyExpiresMs,
                ])
        }
    }

    public func refreshToken(hash: String) throws -> RefreshTokenRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM oauth_refresh_tokens WHERE hash = ?", arguments: [hash]).map { row in
                RefreshTokenRecord(
                    hash: row["hash"], familyID: row["family_id"], clientID: row["client_id"], accountID: row["account_id"],
                    scopes: Scope.parseList(row["scopes"]) ?? [], jkt: row["jkt"], createdMs: row["created_ms"],
                    familyExpiresMs: row["family_expires_ms"], usedMs: row["used_ms"], revokedMs: row["revoked_ms"])
            }
        }
    }

    public func markRefreshTokenUsed(hash: String, nowMs: Int64) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: "UPDATE oauth_refresh_tokens SET used_ms = ? WHERE hash = ? AND used_ms IS NULL", arguments: [nowMs, hash])
            return db.changesCount == 1
        }
    }

    public func revokeRefreshFamily(familyID: String, nowMs: Int64) throws -> [String] {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE oauth_refresh_tokens SET revoked_ms = ? WHERE family_id = ? AND revoked_ms IS NULL", arguments: [nowMs, familyID])
            let jtis = try String.fetchAll(
                db, sql: "SELECT jti FROM oauth_access_tokens WHERE family_id = ? AND revoked_ms IS NULL AND expires_ms > ?",
                arguments: [familyID, nowMs])
            try db.execute(
                sql: "UPDATE oauth_access_tokens SET revoked_ms = ? WHERE family_id = ? AND revoked_ms IS NULL", arguments: [nowMs, familyID])
            for jti in jtis { try Self.appendChange(db, kind: .tokenRevoked, subject: jti, nowMs: nowMs) }
            return jtis
        }
    }

    // MARK: Access tokens

    public func recordAccessToken(_ token: IssuedAccessToken) throws {
        try pool.write { db in
            // Expired records are useless (the token fails on exp anyway): pruned as new ones arrive.
            try db.execute(sql: "DELETE FROM oauth_access_tokens WHERE expires_ms < ?", arguments: [token.expiresMs - 86_400_000])
            try db.execute(
                sql: "INSERT INTO oauth_access_tokens (jti, client_id, family_id, account_id, expires_ms) VALUES (?, ?, ?, ?, ?)",
                arguments: [token.jti, token.clientID, token.familyID, token.accountID, token.expiresMs])
        }
    }

    public func accessToken(jti: String) throws -> IssuedAccessToken? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM oauth_access_tokens WHERE jti = ?", arguments: [jti]).map { row in
                IssuedAccessToken(
                    jti: row["jti"], clientID: row["client_id"], familyID: row["family_id"], accountID: row["account_id"],
                    expiresMs: row["expires_ms"], revokedMs: row["revoked_ms"])
            }
        }
    }

    public func revokeAccessToken(jti: String, nowMs: Int64) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE oauth_access_tokens SET revoked_ms = ? WHERE jti = ? AND revoked_ms IS NULL", arguments: [nowMs, jti])
            if db.changesCount > 0 { try Self.appendChange(db, kind: .tokenRevoked, subject: jti, nowMs: nowMs) }
        }
    }

    // MARK: Signing keys

    public func signingKeys() throws -> [SigningKeyRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM oauth_signing_keys ORDER BY created_ms").map { row in
                SigningKeyRecord(
                    kid: row["kid"], algorithm: row["algorithm"], sealedPrivateKey: row["sealed_private_key"], createdMs: row["created_ms"],
                    retiredMs: row["retired_ms"])
            }
        }
    }

    /// Adds a key and retires the ones in use, in one transaction: there is always exactly one active key.
    public func rotateSigningKey(_ record: SigningKeyRecord) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE oauth_signing_keys SET retired_ms = ? WHERE retired_ms IS NULL", arguments: [record.createdMs])
            try db.execute(
                sql: "INSERT INTO oauth_signing_keys (kid, algorithm, sealed_private_key, created_ms) VALUES (?, ?, ?, ?)",
                arguments: [record.kid, record.algorithm, record.sealedPrivateKey, record.createdMs])
            try Self.appendChange(db, kind: .signingKeysChanged, subject: record.kid, nowMs: record.createdMs)
        }
    }

    /// Forgets retired keys retired before `cutoffMs` (no token they signed can still be valid).
    public func pruneSigningKeys(retiredBeforeMs cutoffMs: Int64) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM oauth_signing_keys WHERE retired_ms IS NOT NULL AND retired_ms < ?", arguments: [cutoffMs])
        }
    }
}
