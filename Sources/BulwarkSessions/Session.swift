import BulwarkCore

/// Why a session ended; each maps to a close code and a `session.terminated` reason.
public enum SessionEndReason: String, Sendable {
    case expired
    case revoked
    case keyRevoked = "key_revoked"
    case accountDisabled = "account_disabled"
    case logout
    /// The account had too many sessions and this, the oldest, made room for a new one.
    case evicted

    public var closeCode: CloseCode {
        switch self {
        case .expired: .sessionExpired
        case .revoked, .keyRevoked, .accountDisabled, .evicted: .sessionRevoked
        case .logout: .normal
        }
    }
}

/// An authenticated session: who, with which credential and scopes, until when.
public struct Session: Sendable, Equatable {
    public let id: String
    public let accountID: String
    public let keyID: String
    public let scopes: Set<Scope>
    public let authMethod: String
    public let clientIP: String
    public let createdMs: Int64
    public var lastActivityMs: Int64
    public let idleTimeoutMs: Int64
    public let absoluteDeadlineMs: Int64

    public init(
        id: String, accountID: String, keyID: String, scopes: Set<Scope>, authMethod: String, clientIP: String,
        createdMs: Int64, idleTimeoutMs: Int64, absoluteDeadlineMs: Int64, lastActivityMs: Int64? = nil
    ) {
        self.id = id
        self.accountID = accountID
        self.keyID = keyID
        self.scopes = scopes
        self.authMethod = authMethod
        self.clientIP = clientIP
        self.createdMs = createdMs
        self.lastActivityMs = lastActivityMs ?? createdMs
        self.idleTimeoutMs = idleTimeoutMs
        self.absoluteDeadlineMs = absoluteDeadlineMs
    }

    /// The earlier of the idle and absolute deadlines.
    public var expiresAtMs: Int64 { min(lastActivityMs + idleTimeoutMs, absoluteDeadlineMs) }

    public func isExpired(atMs now: Int64) -> Bool { now >= expiresAtMs }

    /// Which deadline comes first.
    public var expiryReason: ExpiryReason { lastActivityMs + idleTimeoutMs < absoluteDeadlineMs ? .idle : .absolute }

    public enum ExpiryReason: String, Sendable {
        case idle
        case absolute
    }
}

/// Lifetime policy. Defaults stay within NIST SP 800-63B-4 for AAL2 re-authentication
/// (at most 24 h absolute, at most 1 h of inactivity).
public struct SessionPolicy: Sendable {
    public var idleTimeoutMs: Int64
    public var absoluteTimeoutMs: Int64
    /// How long before a deadline `session.expiring` is sent (never less than 10 s).
    public var warningLeadMs: Int64
    /// Live sessions one account may hold on this node.
    public var maxPerAccount: Int
    public var onLimit: LimitBehaviour

    public enum LimitBehaviour: String, Sendable {
        /// The new login is refused (`forbidden`, reason `too_many_sessions`).
        case refuse
        /// The account's oldest session ends (`session.terminated`, reason `evicted`, close 4002).
        case evictOldest = "evict_oldest"
    }

    public static let nistAAL2MaxAbsoluteMs: Int64 = 24 * 3_600_000
    public static let nistAAL2MaxIdleMs: Int64 = 3_600_000
    public static let minimumWarningLeadMs: Int64 = 10_000

    public init(
        idleTimeoutMs: Int64 = 30 * 60_000, absoluteTimeoutMs: Int64 = 12 * 3_600_000, warningLeadMs: Int64 = 60_000,
        maxPerAccount: Int = 20, onLimit: LimitBehaviour = .evictOldest
    ) {
        self.idleTimeoutMs = min(idleTimeoutMs, Self.nistAAL2MaxIdleMs)
        self.absoluteTimeoutMs = min(absoluteTimeoutMs, Self.nistAAL2MaxAbsoluteMs)
        self.warningLeadMs = max(warningLeadMs, Self.minimumWarningLeadMs)
        self.maxPerAccount = max(1, maxPerAccount)
        self.onLimit = onLimit
    }
}
