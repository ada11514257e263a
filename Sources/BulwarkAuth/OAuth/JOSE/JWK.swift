import BulwarkCore
import Crypto
import _CryptoExtras

public enum JWKError: Error, Sendable, Equatable {
    case malformed
    case unsupportedKey
    /// The JWK carries private members (`d`, `p`, `k`, ...): never acceptable where a public key is expected.
    case containsPrivateKey
    case weakKey
}

/// A public JSON Web Key (RFC 7517) with its optional `kid`, `alg` and `use`.
public struct PublicJWK: Sendable {
    public let key: JWSPublicKey
    public let kid: String?
    /// The `alg` the JWK declares, if any; it must agree with the key type.
    public let declaredAlgorithm: String?
    public let use: String?

    public init(key: JWSPublicKey, kid: String?, use: String? = "sig") {
        self.key = key
        self.kid = kid
        self.declaredAlgorithm = key.algorithm.rawValue
        self.use = use
    }

    static let privateMembers: Set<String> = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
    /// RSA keys shorter than this are refused (FAPI 2.0 §5.4: at least 2048 bits).
    public static let minimumRSABits = 2048

    /// Parses one JWK object. Only OKP/Ed25519, EC/P-256 and RSA (≥ 2048 bits) public keys are
    /// accepted; symmetric (`oct`) keys and any private member are refused.
    public init(json object: JSONObject) throws(JWKError) {
        for name in object.keys where Self.privateMembers.contains(name) { throw .containsPrivateKey }
        guard let kty = object["kty"]?.stringValue else { throw .malformed }
        func bytes(_ name: String) throws(JWKError) -> [UInt8] {
            guard let text = object[name]?.stringValue, let value = Base64URL.decode(text), !value.isEmpty else { throw .malformed }
            return value
        }
        switch kty {
        case "OKP":
            guard object["crv"]?.stringValue == "Ed25519" else { throw .unsupportedKey }
            let x = try bytes("x")
            guard x.count == 32, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: x) else { throw .malformed }
            self.key = .ed25519(key)
        case "EC":
            guard object["crv"]?.stringValue == "P-256" else { throw .unsupportedKey }
            let x = try bytes("x")
            let y = try bytes("y")
            // The point must be on the curve (RFC 8725 §3.4): the SEC1 parser checks it.
            guard x.count == 32, y.count == 32, let key = try? P256.Signing.PublicKey(x963Representation: [0x04] + x + y) else {
                throw .malformed
            }
            self.key = .p256(key)
        case "RSA":
            let n = try bytes("n")
            let e = try bytes("e")
            guard let key = try? _RSA.Signing.PublicKey(n: n, e: e) else { throw .malformed }
            guard key.keySizeInBits >= Self.minimumRSABits else { throw .weakKey }
            self.key = .rsa(key)
        default:
            throw .unsupportedKey
        }
        if let alg = object["alg"] {
            guard let name = alg.stringValue, name == key.algorithm.rawValue else { throw .unsupportedKey }
            declaredAlgorithm = name
        } else {
            declaredAlgorithm = nil
        }
        if let kid = object["kid"] {
            guard let value = kid.stringValue else { throw .malformed }
            self.kid = value
        } else {
            self.kid = nil
        }
        use = object["use"]?.stringValue
        if let use, use != "sig" { throw .unsupportedKey }
    }

    /// The RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, no
    /// whitespace; base64url. This is `cnf.jkt` for DPoP.
    public var thumbprint: String {
        var w = JSONWriter()
        w.beginObject()
        switch key {
        case .ed25519(let k):
            w.key("crv"); w.string("Ed25519")
            w.key("kty"); w.string("OKP")
            w.key("x"); w.string(Base64URL.encode(k.rawRepresentation))
        case .p256(let k):
            let point = Array(k.x963Representation)
            w.key("crv"); w.string("P-256")
            w.key("kty"); w.string("EC")
            w.key("x"); w.string(Base64URL.encode(point[1..<33]))
            w.key("y"); w.string(Base64URL.encode(point[33..<65]))
        case .rsa(let k):
            let (n, e) = Self.rsaNumbers(k)
            w.key("e"); w.string(Base64URL.encode(e))
            w.key("kty"); w.string("RSA")
            w.key("n"); w.string(Base64URL.encode(n))
        }
        w.endObject()
        return Base64URL.encode(SHA256.hash(data: w.bytes))
    }

    /// Writes this key as a JWK object (public members only).
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        if let kid {
            w.key("kid"); w.string(kid)
        }
        w.key("use"); w.string(use ?? "sig")
        w.key("alg"); w.string(key.algorithm.rawValue)
        switch key {
        case .ed25519(let k):
            w.key("kty"); w.string("OKP")
            w.key("crv"); w.string("Ed25519")
            w.key("x"); w.string(Base64URL.encode(k.rawRepresentation))
        case .p256(let k):
            let point = Array(k.x963Representation)
            w.key("kty"); w.string("EC")
            w.key("crv"); w.string("P-256")
            w.key("x"); w.string(Base64URL.encode(point[1..<33]))
            w.key("y"); w.string(Base64URL.encode(point[33..<65]))
        case .rsa(let k):
            let (n, e) = Self.rsaNumbers(k)
            w.key("kty"); w.string("RSA")
            w.key("n"); w.string(Base64URL.encode(n))
            w.key("e"); w.string(Base64URL.encode(e))
        }
        w.endObject()
    }

    /// n and e of an RSA key, from its PKCS#1 DER (SEQUENCE { INTEGER n, INTEGER e }).
    static func rsaNumbers(_ key: _RSA.Signing.PublicKey) -> (n: [UInt8], e: [UInt8]) {
        let der = Array(key.pkcs1DERRepresentation)
        var reader = DERReader(der)
        guard reader.enterSequence(), let n = reader.integer(), let e = reader.integer() else { return ([], []) }
        return (n, e)
    }
}

/// Just enough DER to read PKCS#1 RSA public keys.
private struct DERReader {
    let bytes: [UInt8]
    var index = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func length() -> Int? {
        guard index < bytes.count else { return nil }
        let first = bytes[index]
        index += 1
        if first < 0x80 { return Int(first) }
        let count = Int(first & 0x7f)
        guard count <= 4, index + count <= bytes.count else { return nil }
        var value = 0
        for _ in 0..<count {
            value = value << 8 | Int(bytes[index])
            index += 1
        }
        return value
    }

    mutating func enterSequence() -> Bool {
        guard index < bytes.count, bytes[index] == 0x30 else { return false }
        index += 1
        return length() != nil
    }

    mutating func integer() -> [UInt8]? {
        guard index < bytes.count, bytes[index] == 0x02 else { return nil }
        index += 1
        guard let count = length(), index + count <= bytes.count else { return nil }
        var value = Array(bytes[index..<index + count])
        index += count
        while value.count > 1, value[0] == 0 { value.removeFirst() }
        return value
    }
}

/// A JWK Set: keys looked up by `kid`, as an opaque exact string (RFC 8725 §3.10). There is no
/// default key: a token whose `kid` is missing or not in the set matches nothing.
public struct JWKSet: Sendable {
    public let keys: [PublicJWK]

    public init(keys: [PublicJWK]) { self.keys = keys }

    /// Parses `{"keys":[...]}`; keys of unsupported types are skipped (an issuer may publish
    /// encryption or RSA1_5 keys we never use), malformed or private ones refuse the whole set.
    public init(json: JSONValue) throws(JWKError) {
        guard let object = json.objectValue, let array = object["keys"]?.arrayValue else { throw .malformed }
        var keys: [PublicJWK] = []
        for element in array {
            guard let member = element.objectValue else { throw .malformed }
            do throws(JWKError) {
                keys.append(try PublicJWK(json: member))
            } catch .unsupportedKey, .weakKey {
                continue
            }
        }
        self.keys = keys
    }

    /// The key with exactly this `kid`, only if exactly one key has it (duplicates are ambiguous).
    public func key(kid: String) -> PublicJWK? {
        let matches = keys.filter { $0.kid == kid }
        return matches.count == 1 ? matches[0] : nil
    }

    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("keys")
        w.beginArray()
        for key in keys { key.write(to: &w) }
        w.endArray()
        w.endObject()
    }
}
