import NIOSSL

/// Builds the public listener's TLS context.
///
/// swift-nio-ssl's server defaults are too weak for a trading venue (TLS 1.0 minimum, CBC and
/// non-forward-secret suites for 1.2), so everything is set explicitly: TLS 1.3 unless the operator
/// allows 1.2, and then only ECDHE with AEAD; key exchange X25519MLKEM768 (post-quantum hybrid)
/// first, then X25519 and P-256; ALPN http/1.1; no renegotiation.
enum TLSSetup {
    /// TLS 1.2 suites allowed with `tls.min_version: 1.2`: ECDHE key exchange, AEAD ciphers only.
    static let tls12CipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    static let keyExchangeGroups: [NIOTLSCurve] = [.x25519_MLKEM768, .x25519, .secp256r1]

    static func serverContext(
        certificateChainPEM: String, privateKeyPEM: String, minimumVersion: GatewayConfiguration.TLSMinimumVersion,
        clientAuth: ClientAuthMode = .none, clientCAsPEM: String? = nil
    ) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificateChainPEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = minimumVersion == .tls12 ? .tlsv12 : .tlsv13
        configuration.cipherSuites = tls12CipherSuites
        configuration.curves = keyExchangeGroups
        configuration.applicationProtocols = ["http/1.1"]
        configuration.renegotiationSupport = .none
        // Client certificates: BoringSSL asks for one (and, when required, insists); the chain itself
        // is validated by ClientCertificateVerifier through the handler's custom callback.
        switch clientAuth {
        case .none:
            configuration.certificateVerification = .none
        case .optional:
            configuration.certificateVerification = .optionalVerification
        case .required:
            configuration.certificateVerification = .noHostnameVerification
        }
        if let clientCAsPEM {
            let cas = try NIOSSLCertificate.fromPEMBytes(Array(clientCAsPEM.utf8))
            configuration.trustRoots = .certificates(cas)
            configuration.sendCANameList = true
        }
        return try NIOSSLContext(configuration: configuration)
    }
}
