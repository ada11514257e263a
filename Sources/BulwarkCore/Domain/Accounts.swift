/// What an API key may do (PROTOCOL.md §6).
public enum Scope: String, Sendable, CaseIterable, Comparable {
    case read
    case trade
    case cancel
    case account

    public static func < (lhs: Scope, rhs: Scope) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Parses a comma- or space-separated list; nil when any entry is unknown.
    public static func parseList(_ text: String) -> Set<Scope>? {
        let parts = text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
        var scopes = Set<Scope>()
        for part in parts {
            guard let scope = Scope(rawValue: part) else { return nil }
            scopes.insert(scope)
        }
        return scopes
    }

    public static func render(_ scopes: Set<Scope>) -> String {
        scopes.sorted().map(\.rawValue).joined(separator: ",")
    }
}

/// Signature algorithms an API key can use (PROTOCOL.md §4.1).
public enum KeyAlgorithm: String, Sendable, CaseIterable {
    case ed25519
    case es256
    case mlDSA65 = "ml-dsa-65"
    case hmacSHA256 = "hmac-sha256"

    /// Length of the raw public key on the wire and in `keys create --public-key`.
    public var publicKeyLength: Int? {
        switch self {
        case .ed25519: 32
        case .es256: 65
        case .mlDSA65: 1952
        case .hmacSHA256: nil
        }
    }
}

public enum AccountStatus: String, Sendable {
    case enabled
    case disabled
}

public enum KeyStatus: String, Sendable {
    case active
    case revoked
}

public struct AccountRecord: Sendable, Equatable {
    public let id: String
    public let name: String
    public let status: AccountStatus
    public let createdMs: Int64

    public init(id: String, name: String, status: AccountStatus, createdMs: Int64) {
        self.id = id
        self.name = name
        self.status = status
        self.createdMs = createdMs
    }
}

public struct APIKeyRecord: Sendable, Equatable {
    public let id: String
    public let accountID: String
    public let algorithm: KeyAlgorithm
    public let publicKey: [UInt8]
    public let scopes: Set<Scope>
    public let label: String
    public let status: KeyStatus
    public let createdMs: Int64
    public let expiresMs: Int64?
    /// SHA-256 (lowercase hex) of the client certificate this key only works over (mTLS), or nil.
    public let clientCertificatePin: String?
    public let restrictions: KeyRestrictions
    public let lastUsedMs: Int64?
    /// Locked after repeated failed logins until this time (or an operator's unlock).
    public let lockedUntilMs: Int64?

    public init(
        id: String, accountID: String, algorithm: KeyAlgorithm, publicKey: [UInt8], scopes: Set<Scope>,
        label: String, status: KeyStatus, createdMs: Int64, expiresMs: Int64?, clientCertificatePin: String? = nil,
        restrictions: KeyRestrictions = KeyRestrictions(), lastUsedMs: Int64? = nil, lockedUntilMs: Int64? = nil
    ) {
        self.id = id
        self.accountID = accountID
        self.algorithm = algorithm
        self.publicKey = publicKey
        self.scopes = scopes
        self.label = label
        self.status = status
        self.createdMs = createdMs
        self.expiresMs = expiresMs
        self.clientCertificatePin = clientCertificatePin
        self.restrictions = restrictions
        self.lastUsedMs = lastUsedMs
        self.lockedUntilMs = lockedUntilMs
    }

    public func isUsable(atMs now: Int64) -> Bool {
        status == .active && (expiresMs.map { now < $0 } ?? true) && !isLocked(atMs: now)
    }

    public func isLocked(atMs now: Int64) -> Bool { lockedUntilMs.map { now < $0 } ?? false }
}

/// What a key may do beyond its scopes: where it may log in from and what it may trade.
public struct KeyRestrictions: Sendable, Equatable {
    /// Empty: any address.
    public var ipAllowlist: [IPNetwork]
    /// nil: every instrument.
    public var instruments: Set<String>?
    /// Largest notional of one order placed with this key (with the instrument's own cap).
    public var maxOrderNotional: FixedDecimal?

    public init(ipAllowlist: [IPNetwork] = [], instruments: Set<String>? = nil, maxOrderNotional: FixedDecimal? = nil) {
        self.ipAllowlist = ipAllowlist
        self.instruments = instruments
        self.maxOrderNotional = maxOrderNotional
    }

    public func allows(ip: String) -> Bool { ipAllowlist.isEmpty || ipAllowlist.contains { $0.contains(ip) } }

    public func allows(instrument: String) -> Bool { instruments?.contains(instrument) ?? true }
}

/// Read access to credentials, implemented by the store. Lives in Core so that Auth can verify
/// logins without depending on a database.
public protocol CredentialDirectory: Sendable {
    func apiKey(id: String) throws -> APIKeyRecord?
    func account(id: String) throws -> AccountRecord?
}
