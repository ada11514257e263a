import BulwarkCore

/// A JWS in compact serialization (RFC 7515 §7.1), split and decoded but NOT yet trusted: nothing
/// in it means anything until `JWSPublicKey.verifies` accepts the signature.
///
/// Parsing is strict and bounded: a size cap before any work, exactly three segments, canonical
/// base64url, header and payload JSON objects through `StrictJSONParser` (duplicate members are
/// refused, so two parsers can never see two different `alg` or `sub` values — RFC 8725 §2.7).
public struct CompactJWS: Sendable {
    public let header: JSONObject
    public let payload: JSONObject
    public let signature: [UInt8]
    /// `BASE64URL(header) '.' BASE64URL(payload)`: the bytes the signature covers.
    public let signingInput: [UInt8]

    public enum Failure: Error, Sendable, Equatable {
        case tooLarge
        case malformed
    }

    /// Limits for JOSE headers and claim sets: shallow, few members, short strings.
    static let jsonLimits = JSONParserLimits(maxDepth: 6, maxObjectMembers: 64, maxArrayElements: 64, maxStringBytes: 4096, maxInputBytes: 16384)

    public init(_ token: String, maxBytes: Int) throws(Failure) {
        let bytes = Array(token.utf8)
        guard bytes.count <= maxBytes else { throw .tooLarge }
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed }
        guard let headerBytes = Base64URL.decode(String(decoding: parts[0], as: UTF8.self)),
            let payloadBytes = Base64URL.decode(String(decoding: parts[1], as: UTF8.self)),
            let signature = Base64URL.decode(String(decoding: parts[2], as: UTF8.self)), !signature.isEmpty,
            !headerBytes.isEmpty, !payloadBytes.isEmpty
        else { throw .malformed }
        let parser = StrictJSONParser(limits: Self.jsonLimits)
        guard let header = (try? parser.parse(headerBytes))?.objectValue, let payload = (try? parser.parse(payloadBytes))?.objectValue else {
            throw .malformed
        }
        self.header = header
        self.payload = payload
        self.signature = signature
        self.signingInput = Array(bytes[0..<(parts[0].count + 1 + parts[1].count)])
    }

    /// Builds and signs a compact JWS from already-serialized header and payload JSON.
    public static func sign(header: [UInt8], payload: [UInt8], with key: JWSPrivateKey) throws -> String {
        let input = Base64URL.encode(header) + "." + Base64URL.encode(payload)
        return input + "." + Base64URL.encode(try key.sign(Array(input.utf8)))
    }
}

/// Reading registered claims out of an untrusted-but-verified JSON object.
extension JSONObject {
    public func string(_ name: String) -> String? { self[name]?.stringValue }

    /// A NumericDate in whole seconds. Fractions and exponents are refused rather than rounded.
    public func seconds(_ name: String) -> Int64? { self[name]?.int64Value }

    /// `aud` as a list: a single string or an array of strings (RFC 7519 §4.1.3).
    public func audiences() -> [String]? {
        switch self["aud"] {
        case .string(let value)?: return [value]
        case .array(let values)?:
            let strings = values.compactMap(\.stringValue)
            return strings.count == values.count && !strings.isEmpty ? strings : nil
        default: return nil
        }
    }
}
