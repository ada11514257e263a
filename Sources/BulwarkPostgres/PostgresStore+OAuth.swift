import BulwarkCore
import BulwarkStore
import Foundation
import PostgresNIO

/// OAuth clients, refresh-token families, issued access tokens and token-signing keys.
extension PostgresStore {
    // MARK: Clients

    public func insertOAuthClient(_ record: OAuthClientRecord) throws {
        try withConnection { db in
            try db.execute(
                """
                INSERT INTO oauth_clients (id, account_id, auth_method, jwks, secret_hash, scopes, label, created_ms)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """,
                [
                    .text(record.id), .text(record.accountID), .text(record.authMethod.rawValue), .text(record.jwks),
                    .bytes(record.secretHash.map { Data($0) }), .text(Self.scopeText(record.scopes)), .text(record.label), .int(record.createdMs),
                ])
        }
    }

    public func oauthClient(id: String) throws -> OAuthClientRecord? {
        try withConnection { db in try db.row("SELECT * FROM oauth_clients WHERE id = $1", [.text(id)]).map(Self.client) }
    }

    public func oauthClients(accountID: String?) throws -> [OAuthClientRecord] {
        try withConnection { db in
            if let accountID {
                return try db.rows("SELECT * FROM oauth_clients WHERE account_id = $1 ORDER BY created_ms", [.text(accountID)]).map(Self.client)
            }
            return try db.rows("SELECT * FROM oauth_clients ORDER BY created_ms").map(Self.client)
        }
    }

    public func revokeOAuthClient(id: String, nowMs: Int64) throws -> [String] {
        try changeTransaction { db in
            guard try db.row("SELECT 1 AS one FROM oauth_clients WHERE id = $1", [.text(id)]) != nil else {
                throw StoreError.notFound("client \(id)")
            }
            try db.execute("UPDATE oauth_clients SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL", [.int(nowMs), .text(id)])
            try db.execute(
                "UPDATE oauth_refresh_tokens SET revoked_ms = $1 WHERE client_id = $2 AND revoked_ms IS NULL", [.int(nowMs), .text(id)])
            let jtis = try db.rows(
                "UPDATE oauth_access_tokens SET revoked_ms = $1 WHERE client_id = $2 AND revoked_ms IS NULL RETURNING jti, expires_ms",
                [.int(nowMs), .text(id)]
            ).compactMap { row -> String? in try row.int64("expires_ms") > nowMs ? try row.text("jti") : nil }.sorted()
            for jti in jtis { try Self.appendChange(db, kind: .tokenRevoked, subject: jti, nowMs: nowMs) }
            return jtis
        }
    }

    private static func client(_ row: PostgresRandomAccessRow) throws -> OAuthClientRecord {
        OAuthClientRecord(
            id: try row.text("id"), accountID: try row.text("account_id"),
            authMethod: OAuthClientAuthMethod(rawValue: try row.text("auth_method")) ?? .privateKeyJWT, jwks: try row.optionalText("jwks"),
            secretHash: try row.bytes("secret_hash"), scopes: Scope.parseList(try row.text("scopes")) ?? [], label: try row.text("label"),
            createdMs: try row.int64("created_ms"), revokedMs: try row.optionalInt64("revoked_ms"))
    }

    static func scopeText(_ scopes: Set<Scope>) -> String { scopes.map(\.rawValue).sorted().joined(separator: " ") }

    // MARK: Refresh tokens

    public func insertRefreshToken(_ record: RefreshTokenRecord) throws {
        try withConnection { db in
            try db.execute(
                """
                INSERT INTO oauth_refresh_tokens (hash, family_id, client_id, account_id, scopes, jkt, created_ms, family_expires_ms)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """,
                [
                    .text(record.hash), .text(record.familyID), .text(record.clientID), .text(record.accountID),
                    .text(Self.scopeText(record.scopes)), .text(record.jkt), .int(record.createdMs), .int(record.familyExpiresMs),
                ])
        }
    }

    public func refreshToken(hash: String) throws -> RefreshTokenRecord? {
        try withConnection { db in
            try db.row("SELECT * FROM oauth_refresh_tokens WHERE hash = $1", [.text(hash)]).map { row in
                RefreshTokenRecord(
                    hash: try row.text("hash"), familyID: try row.text("family_id"), clientID: try row.text("client_id"),
                    accountID: try row.text("account_id"), scopes: Scope.parseList(try row.text("scopes")) ?? [], jkt: try row.optionalText("jkt"),
                    createdMs: try row.int64("created_ms"), familyExpiresMs: try row.int64("family_expires_ms"),
                    usedMs: try row.optionalInt64("used_ms"), revokedMs: try row.optionalInt64("revoked_ms"))
            }
        }
    }

    /// A conditional UPDATE (`used_ms IS NULL`): of several nodes presenting the same refresh
    /// token at once, exactly one gets true; the others see reuse.
    public func markRefreshTokenUsed(hash: String, nowMs: Int64) throws -> Bool {
        try withConnection { db in
            try db.execute("UPDATE oauth_refresh_tokens SET used_ms = $1 WHERE hash = $2 AND used_ms IS NULL", [.int(nowMs), .text(hash)]) == 1
        }
    }

    public func revokeRefreshFamily(familyID: String, nowMs: Int64) throws -> [String] {
        try changeTransaction { db in
            try db.execute(
                "UPDATE oauth_refresh_tokens SET revoked_ms = $1 WHERE family_id = $2 AND revoked_ms IS NULL", [.int(nowMs), .text(familyID)])
            let jtis = try db.rows(
                "UPDATE oauth_access_tokens SET revoked_ms = $1 WHERE family_id = $2 AND revoked_ms IS NULL RETURNING jti, expires_ms",
                [.int(nowMs), .text(familyID)]
            ).compactMap { row -> String? in try row.int64("expires_ms") > nowMs ? try row.text("jti") : nil }.sorted()
            for jti in jtis { try Self.appendChange(db, kind: .tokenRevoked, subject: jti, nowMs: nowMs) }
            return jtis
        }
    }

    // MARK: Access tokens

    public func recordAccessToken(_ token: IssuedAccessToken) throws {
        try transaction { db in
            // Expired records are useless (the token fails on exp anyway): pruned as new ones arrive.
            try db.execute("DELETE FROM oauth_access_tokens WHERE expires_ms < $1", [.int(token.expiresMs - 86_400_000)])
            try db.execute(
                "INSERT INTO oauth_access_tokens (jti, client_id, family_id, account_id, expires_ms) VALUES ($1, $2, $3, $4, $5)",
                [.text(token.jti), .text(token.clientID), .text(token.familyID), .text(token.accountID), .int(token.expiresMs)])
        }
    }

    public func accessToken(jti: String) throws -> IssuedAccessToken? {
        try withConnection { db in
            try db.row("SELECT * FROM oauth_access_tokens WHERE jti = $1", [.text(jti)]).map { row in
                IssuedAccessToken(
                    jti: try row.text("jti"), clientID: try row.text("client_id"), familyID: try row.optionalText("family_id"),
                    accountID: try row.text("account_id"), expiresMs: try row.int64("expires_ms"), revokedMs: try row.optionalInt64("revoked_ms"))
            }
        }
    }

    public func revokeAccessToken(jti: String, nowMs: Int64) throws {
        try changeTransaction { db in
            if try db.execute("UPDATE oauth_access_tokens SET revoked_ms = $1 WHERE jti = $2 AND revoked_ms IS NULL", [.int(nowMs), .text(jti)]) > 0 {
                try Self.appendChange(db, kind: .tokenRevoked, subject: jti, nowMs: nowMs)
            }
        }
    }

    // MARK: Signing keys

    public func signingKeys() throws -> [SigningKeyRecord] {
        try withConnection { db in
            try db.rows("SELECT * FROM oauth_signing_keys ORDER BY created_ms").map { row in
                SigningKeyRecord(
                    kid: try row.text("kid"), algorithm: try row.text("algorithm"), sealedPrivateKey: try row.text("sealed_private_key"),
                    createdMs: try row.int64("created_ms"), retiredMs: try row.optionalInt64("retired_ms"))
            }
        }
    }

    /// Adds a key and retires the ones in use, in one transaction (serialised with every other
    /// change-feed writer): there is always exactly one active key, cluster-wide.
    public func rotateSigningKey(_ record: SigningKeyRecord) throws {
        try changeTransaction { db in
            try db.execute("UPDATE oauth_signing_keys SET retired_ms = $1 WHERE retired_ms IS NULL", [.int(record.createdMs)])
            try db.execute(
                "INSERT INTO oauth_signing_keys (kid, algorithm, sealed_private_key, created_ms) VALUES ($1, $2, $3, $4)",
                [.text(record.kid), .text(record.algorithm), .text(record.sealedPrivateKey), .int(record.createdMs)])
            try Self.appendChange(db, kind: .signingKeysChanged, subject: record.kid, nowMs: record.createdMs)
        }
    }

    public func pruneSigningKeys(retiredBeforeMs cutoffMs: Int64) throws {
        try withConnection { db in
            try db.execute("DELETE FROM oauth_signing_keys WHERE retired_ms IS NOT NULL AND retired_ms < $1", [.int(cutoffMs)])
        }
    }
}
