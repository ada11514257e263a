import BulwarkCore

/// Why a session ended; each maps to a close code and a `session.terminated` reason.
public enum SessionEndReason: String, Sendable {
    case expired
    case revoked
    case keyRevoked = "key_revoked"
    case accountDisabled = "account_disabled"
    case logout

    public var closeCode: CloseCode {
        switch self {
        case .expired: .sessionExpired
        case .revoked, .keyRevoked, .accountDisabled: .sessionRevoked
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
        createdMs: Int64, idleTimeoutMs: Int64, absoluteDeadlineMs: Int64
    ) {
        self.id = id
        self.accountID = accountID
        self.keyID = keyID
        self.scopes = scopes
        self.authMethod = authMethod
        self.clientIP = clientIP
        self.createdMs = createdMs
        self.lastActivityMs = createdMs
        self.idleTimeoutMs = idleTimeoutMs
        self.absoluteDeadlineMs = absoluteDeadlineMs
    }

    /// The earlier of the idle and absolute deadlines.
    public var expiresAtMs: Int64 { min(lastActivityMs + idleTimeoutMs, absoluteDeadlineMs) }

    public func isExpired(atMs now: Int64) -> Bool { now >= expiresAtMs }
}

/// Lifetime policy. Defaults stay within NIST SP 800-63B-4 for AAL2 re-authentication
/// (at most 24 h absolute, at most 1 h of inactivity).
public struct SessionPolicy: Sendable {
    public var idleTimeoutMs: Int64
    public var absoluteTimeoutMs: Int64

    public static let nistAAL2MaxAbsoluteMs: Int64 = 24 * 3_600_000
    public static let nistAAL2MaxIdleMs: Int64 = 3_600_000

    public init(idleTimeoutMs: Int64 = 30 * 60_000, absoluteTimeoutMs: Int64 = 12 * 3_600_000) {
        self.idleTimeoutMs = min(idleTimeoutMs, Self.nistAAL2MaxIdleMs)
        self.absoluteTimeoutMs = min(absoluteTimeoutMs, Self.nistAAL2MaxAbsoluteMs)
    }
}
