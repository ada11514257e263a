import Foundation
import NIOCore
import NIOSSL

/// Where the load goes: a gateway (or a peer server) on this machine, with or without TLS.
struct BenchTarget: Sendable {
    let host: String
    let port: Int
    /// Name checked against the server certificate and sent as Host.
    let serverName: String
    /// PEM file of the CA to trust; nil means plain `ws://`.
    let caFile: String?

    /// Parses `ws://HOST:PORT` or `wss://HOST:PORT` (a path, if any, is ignored: each scenario
    /// picks its own).
    init(url: String, caFile: String?, serverName: String?) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host,
            scheme == "ws" || scheme == "wss"
        else { throw CommandFailure("--url must look like wss://127.0.0.1:8443 or ws://127.0.0.1:8080, got '\(url)'") }
        let secure = scheme == "wss"
        if secure && caFile == nil { throw CommandFailure("wss:// needs --ca (the gateway's development CA is DATA/tls/ca.pem)") }
        self.host = host
        self.port = components.port ?? (secure ? 443 : 80)
        self.serverName = serverName ?? (host == "127.0.0.1" || host == "::1" ? "localhost" : host)
        self.caFile = secure ? caFile : nil
    }

    var usesTLS: Bool { caFile != nil }

    /// A TLS 1.3 client context trusting only the given CA (nil for plain connections).
    func makeTLSContext() throws -> NIOSSLContext? {
        guard let caFile else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        tls.minimumTLSVersion = .tlsv13
        return try NIOSSLContext(configuration: tls)
    }
}

/// Monotonic nanoseconds, comparable across the event loops of this process.
enum MonotonicClock {
    static func nanos() -> UInt64 { NIODeadline.now().uptimeNanoseconds }
}
