import Foundation
import NIOSSL

/// Where the gateway is and how to trust it: `wss://host:port/ws/v1` with a CA file (the development
/// CA is `DATA/tls/ca.pem`), or `ws://` for a loopback development listener without TLS.
public struct Endpoint: Sendable, Equatable {
    public let host: String
    public let port: Int
    public let path: String
    public let secure: Bool
    /// The name checked against the server certificate and sent as `Host`.
    public var serverName: String
    /// PEM file of the CA to trust; nil trusts the system's roots (wss only).
    public var caFile: String?
    /// A client certificate for mutual TLS (keys pinned to a certificate, PROTOCOL.md §4).
    public var clientCertificate: ClientCertificate?

    /// PEM files of a certificate (chain) and its private key.
    public struct ClientCertificate: Sendable, Equatable {
        public var certificateFile: String
        public var privateKeyFile: String

        public init(certificateFile: String, privateKeyFile: String) {
            self.certificateFile = certificateFile
            self.privateKeyFile = privateKeyFile
        }
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses `ws[s]://host[:port][/path]` (default path `/ws/v1`). A loopback host is checked
    /// against the certificate as `localhost`, the name the development certificate carries.
    public init(url: String, caFile: String? = nil, serverName: String? = nil) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), let host = components.host,
            scheme == "ws" || scheme == "wss"
        else { throw Invalid(description: "expected ws://HOST:PORT/ws/v1 or wss://HOST:PORT/ws/v1, got '\(url)'") }
        guard components.query == nil else { throw Invalid(description: "no query string: credentials never travel in the URL") }
        self.secure = scheme == "wss"
        self.host = host
        self.port = components.port ?? (secure ? 443 : 80)
        self.path = components.path.isEmpty ? "/ws/v1" : components.path
        self.serverName = serverName ?? (host == "127.0.0.1" || host == "::1" ? "localhost" : host)
        self.caFile = caFile
    }

    /// `https://host:port` (the OAuth issuer of a default gateway) and the https form of this URL
    /// (the `htu` of a DPoP proof for the WebSocket).
    public var httpsOrigin: String { "https://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
    public var httpsURL: String { httpsOrigin + path }

    /// TLS 1.3 trusting `caFile` (or the system), with the client certificate when given.
    func makeTLSContext() throws -> NIOSSLContext? {
        guard secure else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
        tls.minimumTLSVersion = .tlsv13
        if let clientCertificate {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(clientCertificate.certificateFile).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: clientCertificate.privateKeyFile, format: .pem))
        }
        return try NIOSSLContext(configuration: tls)
    }
}
