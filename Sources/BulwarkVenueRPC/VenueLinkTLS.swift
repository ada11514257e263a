import GRPCNIOTransportHTTP2

/// TLS for the venue link, from PEM files. With a client CA on the venue and a client certificate
/// on each gateway it is mutual TLS: only gateways holding a certificate from that CA can connect,
/// which is what makes a venue reachable beyond loopback safe.
public struct VenueServerTLS: Sendable, Equatable {
    public var certificateChainFile: String
    public var privateKeyFile: String
    /// When set, every client must present a certificate issued by this CA (mTLS).
    public var clientCAFile: String?

    public init(certificateChainFile: String, privateKeyFile: String, clientCAFile: String?) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.clientCAFile = clientCAFile
    }

    var transportSecurity: HTTP2ServerTransport.Posix.TransportSecurity {
        let chain: [TLSConfig.CertificateSource] = [.file(path: certificateChainFile, format: .pem)]
        let key = TLSConfig.PrivateKeySource.file(path: privateKeyFile, format: .pem)
        guard let clientCAFile else { return .tls(certificateChain: chain, privateKey: key) }
        return .mTLS(certificateChain: chain, privateKey: key) { config in
            config.trustRoots = .certificates([.file(path: clientCAFile, format: .pem)])
            config.clientCertificateVerification = .noHostnameVerification
        }
    }
}

/// The gateway's side: whom to trust (nil: the system's roots) and, for mTLS, its certificate.
public struct VenueClientTLS: Sendable, Equatable {
    public var trustRootsFile: String?
    public var certificateChainFile: String?
    public var privateKeyFile: String?

    public init(trustRootsFile: String?, certificateChainFile: String?, privateKeyFile: String?) {
        self.trustRootsFile = trustRootsFile
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
    }

    var transportSecurity: HTTP2ClientTransport.Posix.TransportSecurity {
        .tls { config in
            config.serverCertificateVerification = .fullVerification
            if let trustRootsFile { config.trustRoots = .certificates([.file(path: trustRootsFile, format: .pem)]) }
            if let certificateChainFile, let privateKeyFile {
                config.certificateChain = [.file(path: certificateChainFile, format: .pem)]
                config.privateKey = .file(path: privateKeyFile, format: .pem)
            }
        }
    }
}
