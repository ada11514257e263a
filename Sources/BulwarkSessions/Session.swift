import BulwarkCore

/// Why a session ended; each maps to a close code and a `session.terminated` reason.
public enum SessionEndReason: String, Sendable {
    case expired
    case revoked
    case keyRevoked = "key_revoked"
    /// The OAuth access token the session was opened with was revoked (RFC 7009, refresh-token
    /// family revocation, client revocation).
    case tokenRevoked = "token_revoked"
    case accountDisabled = "account_disabled"
    case logout
    /// The account had too many sessions and this, the oldest, made room for a new one.
    case evicted
    /// The risk engine scored the session above the kill threshold.
    case risk
    /// The gateway stopped while the session was live (recorded at the next start).
    case shutdown
    /// A kill switch covering the session's account or key (or the global one) was engaged.
    case killSwitch = "kill_switch"

    public var closeCode: CloseCode {
        switch self {
        case .expired: .sessionExpired
        case .revoked, .keyRevoked, .tokenRevoked, .accountDisabled, .evicted, .risk: .sessionRevoked
        case .logout: .normal
        case .shutdown: .goingAway
        case .killSwitch: .killSwitch
        }
    }
}

/// Authentication assurance level (NIST SP 800-63B-4): `aal1` with a key or token alone, `aal2`
/// while a TOTP step-up is fresh.
public enum Assurance: String, Sendable, Equatable {
    case aal1
    case aal2
}

/// The session's latest risk assessment, as shown to the client and operators.
public struct SessionRisk: Sendable, Equatable {
    public var score: Double
    public var level: RiskLevel
    /// The signals that contributed most, largest first (names only: no raw values leak).
    public var reasons: [String]

    public init(score: Double = 0, level: RiskLevel = .low, reasons: [String] = []) {
        self.score = score
        self.level = level
        self.reasons = reasons
    }
}

/// An authenticated session: who, with which credential and scopes, until when, and how risky.
public struct Session: Sendable, Equatable {
    public let id: String
    public let accountID: String
    /// The credential: an API key id today, a token's `jti` family with the bearer grant.
    public let keyID: String
    public let scopes: Set<Scope>
    public let authMethod: String
    public let clientIP: String
    /// The client's /24 (IPv4) or /48 (IPv6), the unit the risk engine calls a network.
    public let network: String
    public let createdMs: Int64
    public var lastActivityMs: Int64
    /// When the absolute lifetime started: at login, and again at each renewal in place.
    public var absoluteStartMs: Int64
    /// The policy's timeouts before risk shrinks them.
    public let baseIdleTimeoutMs: Int64
    public let baseAbsoluteTimeoutMs: Int64
    /// The timeouts in force: the base ones shrunk by the current risk score.
    public var idleTimeoutMs: Int64
    public var absoluteTimeoutMs: Int64
    public var risk: SessionRisk
    /// The last successful TOTP step-up, and until when it counts (`aal2`).
    public var mfaVerifiedAtMs: Int64?
    public var stepUpUntilMs: Int64?

    public init(
        id: String, accountID: String, keyID: String, scopes: Set<Scope>, authMethod: String, clientIP: String,
        createdMs: Int64, idleTimeoutMs: Int64, absoluteTimeoutMs: Int64, lastActivityMs: Int64? = nil
    ) {
        self.id = id
        self.accountID = accountID
        self.keyID = keyID
        self.scopes = scopes
        self.authMethod = authMethod
        self.clientIP = clientIP
        self.network = NetworkPrefix.of(clientIP) ?? clientIP
        self.createdMs = createdMs
        self.lastActivityMs = lastActivityMs ?? createdMs
        self.absoluteStartMs = createdMs
        self.baseIdleTimeoutMs = idleTimeoutMs
        self.baseAbsoluteTimeoutMs = absoluteTimeoutMs
        self.idleTimeoutMs = idleTimeoutMs
        self.absoluteTimeoutMs = absoluteTimeoutMs
        self.risk = SessionRisk()
    }

    public var absoluteDeadlineMs: Int64 { absoluteStartMs + absoluteTimeoutMs }

    /// The earlier of the idle and absolute deadlines.
    public var expiresAtMs: Int64 { min(lastActivityMs + idleTimeoutMs, absoluteDeadlineMs) }

    public func isExpired(atMs now: Int64) -> Bool { now >= expiresAtMs }

    /// Which deadline comes first.
    public var expiryReason: ExpiryReason { lastActivityMs + idleTimeoutMs < absoluteDeadlineMs ? .idle : .absolute }

    /// Whether risk has shortened the timeouts in force.
    public var isShortenedByRisk: Bool { idleTimeoutMs < baseIdleTimeoutMs || absoluteTimeoutMs < baseAbsoluteTimeoutMs }

    public func assurance(atMs now: Int64) -> Assurance {
        if let until = stepUpUntilMs, now < until { return .aal2 }
        return .aal1
    }

    public enum ExpiryReason: String, Sendable {
        case idle
        case absolute
        /// A deadline moved closer because the risk score rose.
        case risk
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
    /// How long a TOTP step-up keeps the session at `aal2`.
    public var stepUpTTLMs: Int64

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
        maxPerAccount: Int = 20, onLimit: LimitBehaviour = .evictOldest, stepUpTTLMs: Int64 = 15 * 60_000
    ) {
        self.idleTimeoutMs = min(idleTimeoutMs, Self.nistAAL2MaxIdleMs)
        self.absoluteTimeoutMs = min(absoluteTimeoutMs, Self.nistAAL2MaxAbsoluteMs)
        self.warningLeadMs = max(warningLeadMs, Self.minimumWarningLeadMs)
        self.maxPerAccount = max(1, maxPerAccount)
        self.onLimit = onLimit
        self.stepUpTTLMs = max(0, stepUpTTLMs)
    }
}
