import BulwarkCore

/// An HTTP request as the OAuth endpoints see it: no sockets, so every rule is testable as a function.
public struct OAuthHTTPRequest: Sendable {
    public var method: String
    public var path: String
    /// Every header, in order, names as received (compared case-insensitively).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// SHA-256 of the client certificate's DER when the TLS connection had one (mTLS), raw bytes.
    public var clientCertificateSHA256: [UInt8]?

    public init(method: String, path: String, headers: [(name: String, value: String)], body: [UInt8], clientCertificateSHA256: [UInt8]? = nil) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.clientCertificateSHA256 = clientCertificateSHA256
    }

    public func headerValues(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }
}

public struct OAuthHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ status: Int = 200, headers: [(name: String, value: String)] = [], _ write: (inout JSONWriter) -> Void) -> OAuthHTTPResponse {
        var w = JSONWriter()
        write(&w)
        return OAuthHTTPResponse(status: status, headers: headers, body: w.bytes)
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// An RFC 6749 §5.2 / RFC 9449 §7 error: `{"error":…,"error_description":…}`.
public struct OAuthError: Error, Sendable, Equatable {
    public let code: String
    public let description: String
    public let status: Int

    public init(_ code: String, _ description: String, status: Int = 400) {
        self.code = code
        self.description = description
        self.status = status
    }

    public static func invalidRequest(_ why: String) -> OAuthError { OAuthError("invalid_request", why) }
    /// Client authentication failed: 401 (RFC 6749 §5.2).
    public static func invalidClient(_ why: String = "client authentication failed") -> OAuthError { OAuthError("invalid_client", why, status: 401) }
    public static func invalidGrant(_ why: String) -> OAuthError { OAuthError("invalid_grant", why) }
    public static func invalidScope(_ why: String) -> OAuthError { OAuthError("invalid_scope", why) }
    public static func invalidDPoP(_ why: String) -> OAuthError { OAuthError("invalid_dpop_proof", why) }
    public static let useDPoPNonce = OAuthError("use_dpop_nonce", "a DPoP nonce from the DPoP-Nonce header is required")
}

/// `application/x-www-form-urlencoded` (the OAuth request format). A parameter given twice is an
/// error (RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once").
public enum FormBody {
    public static let maxBytes = 16 * 1024

    public static func parse(_ body: [UInt8]) throws(OAuthError) -> [String: String] {
        guard body.count <= maxBytes else { throw .invalidRequest("body too large") }
        var result: [String: String] = [:]
        for pair in body.split(separator: UInt8(ascii: "&")) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), let value = decode(parts.count > 1 ? parts[1] : []) else {
                throw .invalidRequest("malformed form body")
            }
            guard result[name] == nil else { throw .invalidRequest("parameter \(name) repeated") }
            result[name] = value
        }
        return result
    }

    /// Percent-decoding with `+` as space; invalid escapes or UTF-8 fail.
    public static func decode(_ bytes: some Collection<UInt8>) -> String? {
        var out: [UInt8] = []
        var iterator = Array(bytes).makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): out.append(0x20)
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hex), let low = iterator.next().flatMap(hex) else { return nil }
                out.append(high << 4 | low)
            default: out.append(byte)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
