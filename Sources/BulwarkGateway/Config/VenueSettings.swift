import BulwarkCore
import BulwarkStore
import BulwarkVenue
import BulwarkVenueRPC

/// The built-in venue's settings (`venue.*`, `market.*`, `demo.liquidity_interval_ms`).
public struct VenueSettings: Sendable {
    public enum Journal: String, Sendable {
        case fsync
        case process
        case off

        var durability: VenueJournalFile.Durability? {
            switch self {
            case .fsync: .fsync
            case .process: .process
            case .off: nil
            }
        }
    }

    /// A venue process to use instead of the built-in one (`venue.url`, grpc:// or grpcs://HOST:PORT).
    public var remote: RemoteAddress?
    /// TLS for a grpcs:// venue (`venue.tls_*`).
    public var remoteTLS: VenueClientTLS?
    public var journal = Journal.fsync
    public var timeoutMs: Int64 = 5000
    /// Test-only delay before each order.place reaches the venue.
    public var testDelayMs: Int64 = 0
    public var accountLimits = AccountLimits(maxOpenOrders: 500)
    /// nil: every level.
    public var bookDepth: Int? = 50
    /// 0: the simulator does not run.
    public var liquidityIntervalMs: Int64 = 1000

    static func read(string: (String) -> String, int: (String) -> Int) throws -> VenueSettings {
        var settings = VenueSettings()
        let url = string("venue.url")
        if !url.isEmpty {
            guard let remote = RemoteAddress(url: url) else {
                throw ConfigurationError("venue.url must be grpc://HOST:PORT or grpcs://HOST:PORT (got \(url))")
            }
            settings.remote = remote
        }
        let (ca, cert, key) = (string("venue.tls_ca_file"), string("venue.tls_cert_file"), string("venue.tls_key_file"))
        if settings.remote?.tls == true {
            guard cert.isEmpty == key.isEmpty else { throw ConfigurationError("venue.tls_cert_file and venue.tls_key_file go together") }
            settings.remoteTLS = VenueClientTLS(
                trustRootsFile: ca.isEmpty ? nil : ca, certificateChainFile: cert.isEmpty ? nil : cert, privateKeyFile: key.isEmpty ? nil : key)
        } else if !(ca + cert + key).isEmpty {
            throw ConfigurationError("venue.tls_ca_file, venue.tls_cert_file and venue.tls_key_file need a grpcs:// venue.url")
        }
        guard let journal = Journal(rawValue: string("venue.journal")) else {
            throw ConfigurationError("venue.journal must be fsync, process or off")
        }
        settings.journal = journal
        settings.timeoutMs = Int64(int("venue.timeout_ms"))
        guard (10...600_000).contains(settings.timeoutMs) else { throw ConfigurationError("venue.timeout_ms must be within 10...600000") }
        settings.testDelayMs = Int64(int("venue.test_delay_ms"))
        guard (0...60_000).contains(settings.testDelayMs) else { throw ConfigurationError("venue.test_delay_ms must be within 0...60000") }
        let maxOpen = int("venue.max_open_orders")
        guard maxOpen >= 0 else { throw ConfigurationError("venue.max_open_orders must be 0 (no limit) or positive") }
        settings.accountLimits.maxOpenOrders = maxOpen == 0 ? nil : maxOpen
        let notional = string("venue.max_open_notional")
        if !notional.isEmpty {
            guard let value = FixedDecimal(parsing: notional), value.isPositive else {
                throw ConfigurationError("venue.max_open_notional must be a positive decimal or empty")
            }
            settings.accountLimits.maxOpenNotional = value
        }
        let depth = int("market.book_depth")
        guard (0...10_000).contains(depth) else { throw ConfigurationError("market.book_depth must be within 0...10000") }
        settings.bookDepth = depth == 0 ? nil : depth
        settings.liquidityIntervalMs = Int64(int("demo.liquidity_interval_ms"))
        guard settings.liquidityIntervalMs == 0 || settings.liquidityIntervalMs >= 50 else {
            throw ConfigurationError("demo.liquidity_interval_ms must be 0 (off) or at least 50")
        }
        return settings
    }
}

extension VenueSettings {
    /// Where a venue process listens: `grpc://HOST:PORT`, or `grpcs://HOST:PORT` with TLS (IPv6
    /// hosts in brackets).
    public struct RemoteAddress: Sendable, Equatable, CustomStringConvertible {
        public let host: String
        public let port: Int
        public let tls: Bool

        public init?(url: String) {
            let scheme = ["grpc://", "grpcs://"].first { url.hasPrefix($0) }
            guard let scheme else { return nil }
            tls = scheme == "grpcs://"
            var rest = Substring(url.dropFirst(scheme.count))
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
                return nil
            }
            var host = rest[..<colon]
            if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
            guard !host.isEmpty, !host.contains("/"), !host.contains("@") else { return nil }
            self.host = String(host)
            self.port = port
        }

        public var description: String { "\(tls ? "grpcs" : "grpc")://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
    }
}
