/// The stable error vocabulary of the wire protocol (PROTOCOL.md §8).
///
/// `rawValue` is the JSON-RPC `error.code`; `name` is the symbolic `error.message`.
/// Clients match on these, so neither may ever change for an existing case.
public enum ErrorCode: Int, Sendable, CaseIterable, Hashable {
    case parseError = -32700
    case invalidRequest = -32600
    case methodNotFound = -32601
    case invalidParams = -32602
    case internalError = -32603

    case unauthenticated = 10001
    case authFailed = 10002
    case timestampOutOfWindow = 10003
    case replayDetected = 10004
    case forbidden = 10005
    case sessionExpired = 10006
    case sessionRevoked = 10007
    case mfaRequired = 10008
    case mfaInvalid = 10009
    case sequenceViolation = 10010
    case macInvalid = 10011
    case sealedRequired = 10012

    case rateLimited = 11001
    case banned = 11002

    case unknownInstrument = 12001
    case priceNotOnTick = 12002
    case qtyNotOnLot = 12003
    case priceOutOfBand = 12004
    case riskLimit = 12005
    case orderNotFound = 12006
    case tradingHalted = 12007
    case deadlineExceeded = 12008

    /// The symbolic name sent as `error.message`.
    public var name: String {
        switch self {
        case .parseError: "parse_error"
        case .invalidRequest: "invalid_request"
        case .methodNotFound: "method_not_found"
        case .invalidParams: "invalid_params"
        case .internalError: "internal_error"
        case .unauthenticated: "unauthenticated"
        case .authFailed: "auth_failed"
        case .timestampOutOfWindow: "timestamp_out_of_window"
        case .replayDetected: "replay_detected"
        case .forbidden: "forbidden"
        case .sessionExpired: "session_expired"
        case .sessionRevoked: "session_revoked"
        case .mfaRequired: "mfa_required"
        case .mfaInvalid: "mfa_invalid"
        case .sequenceViolation: "sequence_violation"
        case .macInvalid: "mac_invalid"
        case .sealedRequired: "sealed_required"
        case .rateLimited: "rate_limited"
        case .banned: "banned"
        case .unknownInstrument: "unknown_instrument"
        case .priceNotOnTick: "price_not_on_tick"
        case .qtyNotOnLot: "qty_not_on_lot"
        case .priceOutOfBand: "price_out_of_band"
        case .riskLimit: "risk_limit"
        case .orderNotFound: "order_not_found"
        case .tradingHalted: "trading_halted"
        case .deadlineExceeded: "deadline_exceeded"
        }
    }
}

/// WebSocket close codes used by the gateway (PROTOCOL.md §8).
public enum CloseCode: UInt16, Sendable, CaseIterable {
    case normal = 1000
    case goingAway = 1001
    case protocolError = 1002
    /// RFC 6455: a data type the endpoint cannot accept (binary frames until sealed frames exist).
    case unsupportedData = 1003
    case invalidPayload = 1007
    case policyViolation = 1008
    case messageTooBig = 1009
    case internalError = 1011
    case overloaded = 1013
    case sessionExpired = 4001
    case sessionRevoked = 4002
    case killSwitch = 4003
    case slowConsumer = 4004
    case sealedFrameViolation = 4005
    case rateLimitAbuse = 4008
}
