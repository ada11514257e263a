import BulwarkAuth
import BulwarkCore
import BulwarkStore
import Crypto
import Foundation

/// Registering OAuth clients (CLI `bulwark oauth clients create`): validation shared by every front end.
public enum OAuthClientManagement {
    public struct Created: Sendable {
        public let client: OAuthClientRecord
        /// client_secret_basic: the generated secret, shown once and stored only as SHA-256.
        public let secret: String?
        /// private_key_jwt: the kid of each registered key (assigned from the RFC 7638 thumbprint if missing).
        public let keyIDs: [String]
    }

    /// `jwkText`: one public JWK or a JWK Set (private_key_jwt). Keys without `kid` get their thumbprint.
    public static func create(
        store: any Store, accountID: String, method: OAuthClientAuthMethod, jwkText: String?, scopes: String, label: String, nowMs: Int64
    ) throws -> Created {
        guard let scopeSet = Scope.parseList(scopes), !scopeSet.isEmpty else {
            throw ConfigurationError("--scopes must list read, trade, cancel or account")
        }
        switch method {
        case .clientSecretBasic:
            guard jwkText == nil else { throw ConfigurationError("--jwk is for private_key_jwt clients") }
            let secret = "cs_" + Base64URL.encode(SecureRandom.bytes(count: 32))
            let record = try store.createOAuthClient(
                accountID: accountID, authMethod: method, jwks: nil, secretHash: Array(SHA256.hash(data: Array(secret.utf8))), scopes: scopeSet,
                label: label, nowMs: nowMs)
            return Created(client: record, secret: secret, keyIDs: [])
        case .privateKeyJWT:
            guard let jwkText, let json = try? StrictJSONParser().parse(jwkText), let object = json.objectValue else {
                throw ConfigurationError("--jwk must be a file holding a public JWK or a JWK Set (JSON)")
            }
            let members = object["keys"]?.arrayValue ?? [json]
            var keys: [PublicJWK] = []
            for member in members {
                guard let memberObject = member.objectValue else { throw ConfigurationError("a JWK must be an object") }
                do {
                    let key = try PublicJWK(json: memberObject)
                    keys.append(PublicJWK(key: key.key, kid: key.kid ?? key.thumbprint))
                } catch {
                    throw ConfigurationError("unusable JWK (\(error)): Ed25519, P-256 or RSA ≥ 2048 public keys only")
                }
            }
            guard !keys.isEmpty, Set(keys.compactMap(\.kid)).count == keys.count else { throw ConfigurationError("JWKs need distinct kids") }
            var w = JSONWriter()
            JWKSet(keys: keys).write(to: &w)
            let record = try store.createOAuthClient(
                accountID: accountID, authMethod: method, jwks: w.string, secretHash: nil, scopes: scopeSet, label: label, nowMs: nowMs)
            return Created(client: record, secret: nil, keyIDs: keys.compactMap(\.kid))
        }
    }
}
