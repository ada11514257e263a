import BulwarkStore
import Foundation
import NIOSSL
import PostgresNIO

/// A PostgreSQL connection URL:
///
///     postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE[&sslrootcert=CA.pem]]
///
/// (`postgresql://` works too; user and password may be percent-encoded; the port defaults to
/// 5432, the user to `postgres`, the database to the user.) `sslmode`, as libpq spells it:
///
/// - `disable` (the default): plain TCP, for loopback or a private network only.
/// - `require`: TLS, certificate not verified (protects against passive eavesdropping only).
/// - `verify-ca`: TLS, the server's chain must lead to `sslrootcert` (or the system roots).
/// - `verify-full`: as `verify-ca`, and the certificate must name HOST. The one to use across
///   an untrusted network.
///
/// The password is never part of `redacted`, which is what errors and logs show.
public struct PostgresURL: Sendable, Equatable {
    public enum SSLMode: String, Sendable, Equatable {
        case disable
        case require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    /// PEM file of the CA(s) that sign the server certificate (`verify-ca`, `verify-full`).
    public var sslRootCert: String?

    public init(_ text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            scheme == "postgres" || scheme == "postgresql"
        else { throw StoreError.invalid("PostgreSQL URL must look like postgres://user:pass@host:port/db, got \(Self.redact(text))") }
        guard let host = components.host, !host.isEmpty else { throw StoreError.invalid("PostgreSQL URL without a host") }
        self.host = host
        self.port = components.port ?? 5432
        self.user = components.percentEncodedUser.flatMap { $0.removingPercentEncoding } ?? "postgres"
        self.password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? user : path
        self.sslMode = .disable
        self.sslRootCert = nil
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = SSLMode(rawValue: value) else {
                    throw StoreError.invalid("sslmode must be disable, require, verify-ca or verify-full, got \(item.value ?? "")")
                }
                sslMode = mode
            case "sslrootcert":
                sslRootCert = item.value
            default:
                throw StoreError.invalid("unknown PostgreSQL URL parameter \(item.name) (known: sslmode, sslrootcert)")
            }
        }
        if sslRootCert != nil, sslMode == .disable || sslMode == .require {
            throw StoreError.invalid("sslrootcert needs sslmode=verify-ca or verify-full")
        }
    }

    /// The URL without the password.
    public var redacted: String {
        "postgres://\(user)@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    /// The URL again, password included (to open another connection to the same server).
    public var urlString: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = user
        components.password = password
        components.host = host
        components.port = port
        components.path = "/" + database
        var items = [URLQueryItem(name: "sslmode", value: sslMode.rawValue)]
        if let sslRootCert { items.append(URLQueryItem(name: "sslrootcert", value: sslRootCert)) }
        components.queryItems = items
        return components.string ?? redacted
    }

    static func redact(_ text: String) -> String {
        guard var components = URLComponents(string: text) else { return "(unparseable)" }
        if components.password != nil { components.password = "***" }
        return components.string ?? "(unparseable)"
    }

    /// The same server, another database (tests, `createdb`-style administration).
    public func with(database: String) -> PostgresURL {
        var copy = self
        copy.database = database
        return copy
    }

    func configuration(connectTimeout: TimeAmount, statementTimeout: TimeAmount) throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch sslMode {
        case .disable:
            tls = .disable
        case .require:
            var config = TLSConfiguration.makeClientConfiguration()
            config.certificateVerification = .none
            tls = .require(try NIOSSLContext(configuration: config))
        case .verifyCA, .verifyFull:
            var config = TLSConfiguration.makeClientConfiguration()
            config.certificateVerification = sslMode == .verifyFull ? .fullVerification : .noHostnameVerification
            if let sslRootCert {
                guard FileManager.default.isReadableFile(atPath: sslRootCert) else {
                    throw StoreError.invalid("sslrootcert \(sslRootCert) is not a readable file")
                }
                config.trustRoots = .file(sslRootCert)
            }
            do {
                tls = .require(try NIOSSLContext(configuration: config))
            } catch {
                throw StoreError.invalid("sslrootcert \(sslRootCert ?? "(system roots)"): \(error)")
            }
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = connectTimeout
        // Server-side bounds matching the client's deadline. When a call times out the client
        // closes its connection, but a backend waiting on a lock does not notice that until it
        // next talks to the client: these end such a statement (and a transaction left open by
        // a hung client) on the server too, so its locks are released.
        let ms = String(statementTimeout.nanoseconds / 1_000_000)
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", ms), ("lock_timeout", ms), ("idle_in_transaction_session_timeout", "60000"),
            ("application_name", "bulwark"),
        ]
        return configuration
    }
}
