/// A JSON-RPC request id: an integer in [0, 2^53) or a string of at most 64 characters (PROTOCOL.md §2).
public enum RPCID: Sendable, Hashable {
    case int(Int64)
    case string(String)

    public static let maxInteger: Int64 = 1 << 53
    public static let maxStringLength = 64
}

/// A validated JSON-RPC 2.0 request.
public struct RPCRequest: Sendable {
    public let id: RPCID
    public let method: String
    public let params: JSONObject

    public init(id: RPCID, method: String, params: JSONObject) {
        self.id = id
        self.method = method
        self.params = params
    }
}

/// An error answered to the client: a protocol code plus the few `data` members PROTOCOL.md allows.
public struct RPCError: Error, Sendable, Equatable {
    public var code: ErrorCode
    /// JSON path of the offending member, e.g. `params.qty`.
    public var field: String?
    /// A short machine-readable detail, e.g. `insufficient_balance`; never internals.
    public var reason: String?
    public var retryAfterMs: Int64?
    public var skewMs: Int64?
    public var untilMs: Int64?
    public var bucket: String?
    public var traceID: String?

    public init(
        _ code: ErrorCode, field: String? = nil, reason: String? = nil, retryAfterMs: Int64? = nil,
        skewMs: Int64? = nil, untilMs: Int64? = nil, bucket: String? = nil, traceID: String? = nil
    ) {
        self.code = code
        self.field = field
        self.reason = reason
        self.retryAfterMs = retryAfterMs
        self.skewMs = skewMs
        self.untilMs = untilMs
        self.bucket = bucket
        self.traceID = traceID
    }

    public static func invalidParams(_ field: String, _ reason: String? = nil) -> RPCError {
        RPCError(.invalidParams, field: "params." + field, reason: reason)
    }
}

/// Turns a parsed JSON document into an `RPCRequest`, or says why it is not one.
///
/// Strict on purpose: unknown top-level members, a missing or wrong `jsonrpc`, batches and
/// notifications without `id` are all refused, so a client bug surfaces on the first message.
public enum RPCRequestDecoder {
    public struct Failure: Error, Sendable {
        public let error: RPCError
        /// The request id when it could be read, so the client can match the error.
        public let id: RPCID?
    }

    public static let maxMethodLength = 64

    public static func decode(_ value: JSONValue) throws(Failure) -> RPCRequest {
        guard case .object(let object) = value else {
            throw Failure(error: RPCError(.invalidRequest, reason: "not_an_object"), id: nil)
        }
        let id = try decodeID(object)
        for key in object.keys where !["jsonrpc", "id", "method", "params"].contains(key) {
            throw Failure(error: RPCError(.invalidRequest, field: key, reason: "unknown_member"), id: id)
        }
        guard object["jsonrpc"]?.stringValue == "2.0" else {
            throw Failure(error: RPCError(.invalidRequest, field: "jsonrpc"), id: id)
        }
        guard let method = object["method"]?.stringValue, !method.isEmpty,
            method.utf8.count <= maxMethodLength
        else {
            throw Failure(error: RPCError(.invalidRequest, field: "method"), id: id)
        }
        let params: JSONObject
        switch object["params"] {
        case nil: params = JSONObject()
        case .object(let p)?: params = p
        default: throw Failure(error: RPCError(.invalidParams, field: "params", reason: "not_an_object"), id: id)
        }
        return RPCRequest(id: id, method: method, params: params)
    }

    private static func decodeID(_ object: JSONObject) throws(Failure) -> RPCID {
        switch object["id"] {
        case .number(let number)?:
            guard let value = number.int64, value >= 0, value < RPCID.maxInteger else {
                throw Failure(error: RPCError(.invalidRequest, field: "id"), id: nil)
            }
            return .int(value)
        case .string(let text)?:
            guard text.count <= RPCID.maxStringLength else {
                throw Failure(error: RPCError(.invalidRequest, field: "id"), id: nil)
            }
            return .string(text)
        default:
            throw Failure(error: RPCError(.invalidRequest, field: "id"), id: nil)
        }
    }
}
