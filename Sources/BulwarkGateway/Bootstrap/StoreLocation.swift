import BulwarkStore
import Foundation

/// Which database holds the gateway's durable state (`store.url`).
///
/// SQLite is the zero-configuration default: one file in the data folder, one node. PostgreSQL
/// lets several gateway nodes share accounts, keys, sessions, the audit trail and the change feed.
public enum StoreLocation: Sendable, Equatable {
    case sqlite
    case postgres(url: String)

    /// `""` or `sqlite` selects SQLite in the data folder; `postgres://` or `postgresql://` a
    /// PostgreSQL database. Anything else is refused rather than guessed at.
    public init(url: String) throws {
        let trimmed = url.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed == "sqlite" {
            self = .sqlite
        } else if trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://") {
            self = .postgres(url: trimmed)
        } else {
            throw ConfigurationError("store.url must be empty (SQLite in the data folder) or a postgres:// URL")
        }
    }

    /// The location operator commands use: `BULWARK_STORE_URL`, else the data folder's SQLite file.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> StoreLocation {
        try StoreLocation(url: environment["BULWARK_STORE_URL"] ?? "")
    }

    /// Stable across restarts of the same data folder on the same host, so a restarted node closes
    /// exactly the sessions it left open.
    public static func defaultNodeID(dataDirectory: String) -> String {
        let host = ProcessInfo.processInfo.hostName
        let folder = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        return host + ":" + folder
    }

    /// For logs and banners: the URL without its password.
    public var description: String {
        switch self {
        case .sqlite: return "sqlite"
        case .postgres(let url): return Self.redacted(url)
        }
    }

    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "****"
        return components.string ?? "postgres://(unparsable)"
    }
}
