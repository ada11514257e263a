import BulwarkCore

/// An error answer from the gateway: `code` and `message` from PROTOCOL.md §8, `data` as sent.
public struct BulwarkError: Error, Sendable, CustomStringConvertible {
    public let code: Int64?
    /// The stable symbolic name, e.g. `rate_limited`, `price_not_on_tick`.
    public let message: String
    public let data: JSONObject

    public init(_ error: JSONObject) {
        code = error["code"]?.int64Value
        message = error["message"]?.stringValue ?? "unknown"
        data = error["data"]?.objectValue ?? JSONObject()
    }

    public var reason: String? { data["reason"]?.stringValue }
    public var retryAfterMs: Int64? { data["retry_after_ms"]?.int64Value }
    public var description: String { "\(code.map(String.init) ?? "-") \(message) \(JSONWriter.encodeText(.object(data)))" }
}

/// Failures of the client itself (not answers of the gateway).
public enum ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    case notConnected
    /// The connection closed before the answer came (the client may be resuming).
    case connectionClosed(code: UInt16?)
    case timeout(method: String)
    /// The gateway ended the session (`session.terminated`, close 4001-4003): no automatic resume.
    case sessionEnded(reason: String)
    /// The gateway spoke out of protocol (no hello, an unparseable message, a result that is not an object).
    case protocolViolation(String)
    /// A sealed frame from the gateway failed its tag or sequence check, or the `kx` answer's
    /// identity signature did not verify: the connection is not trusted and is closed.
    case untrustedGateway(String)
    /// No login to renew or resume with.
    case notLoggedIn

    public var description: String {
        switch self {
        case .notConnected: "not connected"
        case .connectionClosed(let code): "connection closed (\(code.map(String.init) ?? "no close frame"))"
        case .timeout(let method): "no answer to \(method) in time"
        case .sessionEnded(let reason): "session ended: \(reason)"
        case .protocolViolation(let detail): "protocol violation: \(detail)"
        case .untrustedGateway(let detail): "untrusted gateway: \(detail)"
        case .notLoggedIn: "not logged in"
        }
    }
}

/// One `subscription` notification (PROTOCOL.md §7).
public struct ChannelMessage: Sendable {
    public let channel: String
    public let seq: Int64
    public let prevSeq: Int64?
    /// The account's private event number (private channels only).
    public let privateSeq: Int64?
    public let data: JSONValue

    /// `book.BTC-USD` → `BTC-USD`.
    public var instrument: String? { channel.split(separator: ".", maxSplits: 1).dropFirst().first.map(String.init) }
}

/// What the client reports on `events`, in arrival order.
public enum ClientEvent: Sendable {
    /// A channel message (private ones exactly once, even across a resume).
    case message(ChannelMessage)
    /// A book changed (snapshot or delta applied): its new state.
    case book(OrderBook)
    /// Messages were missed on a channel (`expected` → `got`); a book is resynchronised by itself.
    case gap(channel: String, expected: Int64?, got: Int64?)
    /// Any other notification: `session.expiring`, `session.terminated`, `rate_limit.warning`,
    /// `server.shutdown`, or `error` for an error answer without id (a refused sealed frame).
    case notification(method: String, params: JSONObject)
    /// The session was renewed in place after `session.expiring`.
    case renewed(LoginResult)
    /// The connection dropped; a resume follows unless the session ended or reconnect is off.
    case disconnected(code: UInt16?, reason: String?)
    /// Reconnected and resumed: subscriptions are back, missed private events follow (`replayed`).
    case resumed(LoginResult)
    /// The session is over (`session.terminated`, expiry, revocation, an unknown resume).
    case sessionEnded(reason: String)
}

/// The result of `public/auth` (PROTOCOL.md §4).
public struct LoginResult: Sendable {
    public let raw: JSONObject

    public var sessionID: String { raw["session_id"]?.stringValue ?? "" }
    public var accountID: String { raw["account_id"]?.stringValue ?? "" }
    public var scopes: [String] { raw["scopes"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    public var expiresAtMs: Int64? { raw["expires_at_ms"]?.int64Value }
    public var challenge: String? { raw["challenge"]?.stringValue }
    public var renewed: Bool { raw["renewed"]?.boolValue ?? false }
    public var resumed: Bool { raw["resumed"]?.boolValue ?? false }
    public var replayed: Int64 { raw["replayed"]?.int64Value ?? 0 }
    public var replayComplete: Bool { raw["replay_complete"]?.boolValue ?? true }
    public var privateSeq: Int64? { raw["private_seq"]?.int64Value }
    /// The channels resubscribed by a resume.
    public var subscriptions: [String]? { raw["subscriptions"]?.arrayValue?.compactMap(\.stringValue) }
}

/// An order as the gateway reports it (PROTOCOL.md §6); `raw` has every member.
public struct Order: Sendable {
    public let raw: JSONObject

    /// nil when the outcome is unknown (`status: unknown`: place the same client_order_id again).
    public var orderID: String? { raw["order_id"]?.stringValue }
    public var clientOrderID: String { raw["client_order_id"]?.stringValue ?? "" }
    public var instrument: String { raw["instrument"]?.stringValue ?? "" }
    public var side: Side? { raw["side"]?.stringValue.flatMap(Side.init(rawValue:)) }
    public var status: String { raw["status"]?.stringValue ?? "" }
    public var price: FixedDecimal? { raw["price"]?.stringValue.flatMap(FixedDecimal.init(parsing:)) }
    public var qty: FixedDecimal? { raw["qty"]?.stringValue.flatMap(FixedDecimal.init(parsing:)) }
    public var filledQty: FixedDecimal? { raw["filled_qty"]?.stringValue.flatMap(FixedDecimal.init(parsing:)) }
    /// A repeat of an earlier `client_order_id`: this is the original order.
    public var duplicate: Bool { raw["duplicate"]?.boolValue ?? false }
}

extension JSONWriter {
    static func encodeText(_ value: JSONValue) -> String { String(decoding: encode(value), as: UTF8.self) }
}
