import AsyncHTTPClient
import BulwarkAuth
import BulwarkCore
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// OAuth 2.0 client credentials with `private_key_jwt` (RFC 7523) and DPoP (RFC 9449), for the
/// bearer grant (PROTOCOL.md §4.2, docs/oauth.md). JWS signing is BulwarkAuth's `CompactJWS`, the
/// code the gateway's own tokens are signed with.
public final class OAuthClient: Sendable {
    public let issuer: String
    public let clientID: String
    private let clientKey: JWSPrivateKey
    private let kid: String?
    private let dpopKey: P256.Signing.PrivateKey
    private let http: HTTPClient
    private let clock: any WallClock

    /// - Parameters:
    ///   - issuer: the gateway's base URL (`https://127.0.0.1:8443`), its OAuth issuer by default.
    ///   - clientKey: the private key whose public JWK was registered (`bulwark oauth clients create --jwk`).
    ///   - kid: the registered key's `kid`.
    public init(issuer: String, clientID: String, clientKey: JWSPrivateKey, kid: String?, caFile: String?, clock: any WallClock = SystemClock())
        throws
    {
        self.issuer = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        self.clientID = clientID
        self.clientKey = clientKey
        self.kid = kid
        self.dpopKey = P256.Signing.PrivateKey()
        self.clock = clock
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
        tls.minimumTLSVersion = .tlsv12
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.redirectConfiguration = .disallow
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async throws { try await http.shutdown() }

    public struct Token: Sendable {
        public let accessToken: String
        /// `DPoP` for a DPoP-bound token.
        public let tokenType: String
        public let expiresIn: Int64?
        public let scope: String?
    }

    public struct Refused: Error, CustomStringConvertible {
        public let status: UInt
        public let body: String
        public var description: String { "token request refused: \(status) \(body)" }
    }

    /// A DPoP-bound access token; retries once with the server's nonce when it asks for one.
    public func token(scope: String? = nil) async throws -> Token {
        var nonce: String?
        for _ in 0..<2 {
            var form = [
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", try assertion()),
            ]
            if let scope { form.append(("scope", scope)) }
            var request = HTTPClientRequest(url: issuer + "/oauth/token")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.headers.add(name: "DPoP", value: try dpopProof(method: "POST", url: issuer + "/oauth/token", nonce: nonce))
            request.body = .bytes(ByteBuffer(string: Self.formEncode(form)))
            let response = try await http.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 16)
            let json = (try? StrictJSONParser().parse(body.readableBytesView))?.objectValue ?? JSONObject()
            if response.status == .ok, let accessToken = json["access_token"]?.stringValue {
                return Token(
                    accessToken: accessToken, tokenType: json["token_type"]?.stringValue ?? "", expiresIn: json["expires_in"]?.int64Value,
                    scope: json["scope"]?.stringValue)
            }
            if json["error"]?.stringValue == "use_dpop_nonce", let serverNonce = response.headers.first(name: "DPoP-Nonce"), nonce == nil {
                nonce = serverNonce
                continue
            }
            throw Refused(status: response.status.code, body: String(buffer: body))
        }
        throw Refused(status: 400, body: "nonce loop")
    }

    /// The `dpop` closure for `BulwarkClient.login(accessToken:dpop:)`: a proof for `GET` on the
    /// WebSocket URL (https form), bound to the token and to each connection's challenge.
    public func webSocketProof(accessToken: String, endpoint: Endpoint) -> @Sendable (String) throws -> String {
        { challenge in try self.dpopProof(method: "GET", url: endpoint.httpsURL, accessToken: accessToken, nonce: challenge) }
    }

    /// A DPoP proof JWT (RFC 9449 §4.2) signed with this client's P-256 DPoP key.
    public func dpopProof(method: String, url: String, accessToken: String? = nil, nonce: String? = nil) throws -> String {
        let point = Array(dpopKey.publicKey.x963Representation)
        var header = JSONWriter()
        header.beginObject()
        Self.field(&header, "typ", "dpop+jwt")
        Self.field(&header, "alg", "ES256")
        header.key("jwk")
        header.beginObject()
        Self.field(&header, "kty", "EC")
        Self.field(&header, "crv", "P-256")
        Self.field(&header, "x", Base64URL.encode(point[1..<33]))
        Self.field(&header, "y", Base64URL.encode(point[33..<65]))
        header.endObject()
        header.endObject()
        var claims = JSONWriter()
        claims.beginObject()
        Self.field(&claims, "jti", Base64URL.encode(SecureRandom.bytes(count: 16)))
        Self.field(&claims, "htm", method)
        Self.field(&claims, "htu", url)
        claims.key("iat")
        claims.int(clock.nowMs() / 1000)
        if let accessToken { Self.field(&claims, "ath", Base64URL.encode(SHA256.hash(data: Array(accessToken.utf8)))) }
        if let nonce { Self.field(&claims, "nonce", nonce) }
        claims.endObject()
        return try CompactJWS.sign(header: header.bytes, payload: claims.bytes, with: .p256(dpopKey))
    }

    /// The `private_key_jwt` client assertion (RFC 7523 §2.2).
    func assertion() throws -> String {
        var header = JSONWriter()
        header.beginObject()
        Self.field(&header, "alg", clientKey.algorithm.rawValue)
        Self.field(&header, "typ", "JWT")
        if let kid { Self.field(&header, "kid", kid) }
        header.endObject()
        let now = clock.nowMs() / 1000
        var claims = JSONWriter()
        claims.beginObject()
        Self.field(&claims, "iss", clientID)
        Self.field(&claims, "sub", clientID)
        Self.field(&claims, "aud", issuer + "/oauth/token")
        claims.key("iat")
        claims.int(now)
        claims.key("exp")
        claims.int(now + 60)
        Self.field(&claims, "jti", Base64URL.encode(SecureRandom.bytes(count: 16)))
        claims.endObject()
        return try CompactJWS.sign(header: header.bytes, payload: claims.bytes, with: clientKey)
    }

    private static func field(_ writer: inout JSONWriter, _ key: String, _ value: String) {
        writer.key(key)
        writer.string(value)
    }

    static func formEncode(_ pairs: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return pairs.map { key, value in
            "\(key.addingPercentEncoding(withAllowedCharacters: allowed)!)=\(value.addingPercentEncoding(withAllowedCharacters: allowed)!)"
        }.joined(separator: "&")
    }
}
