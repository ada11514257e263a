import BulwarkAuth
import BulwarkCore
import BulwarkStore
import Foundation

/// Key lifecycle operations shared by the CLI and the admin API, so both validate the same way.
public struct KeyManagement: Sendable {
    public let store: any Store
    /// Opens the master key when an HMAC secret must be sealed.
    public let secretBox: @Sendable () throws -> SecretBox

    public init(store: any Store, secretBox: @escaping @Sendable () throws -> SecretBox) {
        self.store = store
        self.secretBox = secretBox
    }

    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// What an operator asks for, as text (CLI flags or admin JSON), validated by `create`.
    public struct Request: Sendable {
        public var accountID: String
        public var type: String = "ed25519"
        public var publicKey: String?
        public var scopes: String
        public var label: String = ""
        public var expiresInDays: Int?
        public var clientCertificateSHA256: String?
        public var ipAllowlist: [String] = []
        public var instruments: [String]?
        public var maxOrderNotional: String?
        public var sealedPolicy: String = "none"

        public init(accountID: String, scopes: String) {
            self.accountID = accountID
            self.scopes = scopes
        }
    }

    public struct Created: Sendable {
        public let key: APIKeyRecord
        /// HMAC keys only: the secret, to show once.
        public let secret: String?
    }

    public func create(_ request: Request, nowMs: Int64) throws -> Created {
        guard let algorithm = KeyAlgorithm(rawValue: request.type) else {
            throw Failure("type must be ed25519, es256, ml-dsa-65 or hmac-sha256")
        }
        var publicKey: [UInt8] = []
        var secret: [UInt8]?
        if algorithm == .hmacSHA256 {
            guard request.publicKey == nil else { throw Failure("hmac-sha256 keys have no public key: the gateway generates the secret") }
            secret = SecureRandom.bytes(count: KeyAlgorithm.hmacSecretLength)
        } else {
            guard let text = request.publicKey, let decoded = Base64URL.decode(text) else {
                throw Failure("public key is required, as base64url (no padding)")
            }
            guard SignatureVerifier.isWellFormedPublicKey(decoded, algorithm: algorithm) else {
                throw Failure(
                    "public key is not a valid \(algorithm.rawValue) public key (\(algorithm.publicKeyLength ?? 0) bytes expected, got \(decoded.count))")
            }
            publicKey = decoded
        }
        guard let scopes = Scope.parseList(request.scopes), !scopes.isEmpty else {
            throw Failure("scopes must be a non-empty list of read, trade, cancel, account")
        }
        if let days = request.expiresInDays, days <= 0 { throw Failure("expires in days must be positive") }
        let restrictions = try Self.restrictions(request)
        let pin = try request.clientCertificateSHA256.map(Self.normalizedFingerprint)
        guard let policy = SealedFramePolicy(rawValue: request.sealedPolicy) else { throw Failure("sealed policy must be none, mac or aead") }
        let keyID = Identifier.random(prefix: "k", bytes: 12)
        // The secret is sealed with the master key, bound to this key id, before it touches the disk.
        let sealed = try secret.map { try secretBox().seal($0, boundTo: keyID) }
        do {
            let key = try store.createKey(
                accountID: request.accountID, algorithm: algorithm, publicKey: publicKey, scopes: scopes, label: request.label,
                expiresMs: request.expiresInDays.map { nowMs + Int64($0) * 86_400_000 }, clientCertificatePin: pin,
                restrictions: restrictions, keyID: keyID, sealedSecret: sealed, sealedPolicy: policy, nowMs: nowMs)
            return Created(key: key, secret: secret.map(Base64URL.encode))
        } catch let error as StoreError {
            throw Failure(error.description)
        }
    }

    /// Replaces a key with a new one carrying the same account, scopes and restrictions; the old key
    /// keeps working for `overlapMinutes`, then expires (a client switches without downtime).
    public func rotate(keyID: String, newPublicKey: String?, overlapMinutes: Int, nowMs: Int64) throws -> (Created, oldExpiresMs: Int64) {
        guard (0...10_080).contains(overlapMinutes) else { throw Failure("overlap must be within 0...10080 minutes (one week)") }
        guard let old = try store.apiKey(id: keyID), old.status == .active else { throw Failure("no active key \(keyID)") }
        var request = Request(accountID: old.accountID, scopes: Scope.render(old.scopes))
        request.type = old.algorithm.rawValue
        request.publicKey = newPublicKey
        request.label = old.label
        request.clientCertificateSHA256 = old.clientCertificatePin
        request.ipAllowlist = old.restrictions.ipAllowlist.map(\.description)
        request.instruments = old.restrictions.instruments.map { $0.sorted() }
        request.maxOrderNotional = old.restrictions.maxOrderNotional?.description
        request.sealedPolicy = old.sealedPolicy.rawValue
        if let expires = old.expiresMs { request.expiresInDays = max(1, Int((expires - nowMs) / 86_400_000)) }
        let created = try create(request, nowMs: nowMs)
        let oldExpires = min(old.expiresMs ?? .max, nowMs + Int64(overlapMinutes) * 60_000)
        try store.setKeyExpiry(id: keyID, expiresMs: oldExpires)
        return (created, oldExpires)
    }

    static func restrictions(_ request: Request) throws -> KeyRestrictions {
        var restrictions = KeyRestrictions()
        for entry in request.ipAllowlist {
            guard let network = IPNetwork(entry.trimmingCharacters(in: .whitespaces)) else {
                throw Failure("'\(entry)' is not an address or CIDR")
            }
            restrictions.ipAllowlist.append(network)
        }
        if let instruments = request.instruments {
            restrictions.instruments = Set(instruments.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
        if let text = request.maxOrderNotional {
            guard let value = FixedDecimal(parsing: text), value.isPositive else { throw Failure("max order notional must be a positive decimal") }
            restrictions.maxOrderNotional = value
        }
        return restrictions
    }

    static func normalizedFingerprint(_ hex: String) throws -> String {
        let normalized = hex.lowercased().replacingOccurrences(of: ":", with: "")
        guard normalized.count == 64, normalized.allSatisfy(\.isHexDigit) else {
            throw Failure("client certificate SHA-256 must be 64 hex digits")
        }
        return normalized
    }
}
