import BulwarkCore
import BulwarkVenue
import BulwarkVenueRPC
import Foundation
import Logging
import ServiceLifecycle

/// `bulwark venue`: the built-in venue as its own process, served over gRPC to any number of
/// gateways (`bulwark serve --venue grpc://HOST:PORT`).
///
/// It owns what the built-in venue owns in a single process: the matching engine, its journal
/// (`DATA/venue-journal.sqlite`, replayed at start), and with `--demo` the house liquidity and the
/// liquidity simulator (house account `DemoMarket.venueHouseAccountID`, funded by the venue
/// itself). Gateways forward client deposits; they are idempotent by id.
public struct VenueProcessRunner: Sendable {
    public let configuration: GatewayConfiguration
    public let host: String
    public let port: Int
    public let demo: Bool
    public let replayEvents: Int
    public let readyFile: String?
    /// nil: plaintext (loopback or a private network only).
    public let tls: VenueServerTLS?

    public init(
        configuration: GatewayConfiguration, host: String, port: Int, demo: Bool, replayEvents: Int, readyFile: String?, tls: VenueServerTLS?
    ) {
        self.configuration = configuration
        self.host = host
        self.port = port
        self.demo = demo
        self.replayEvents = replayEvents
        self.readyFile = readyFile
        self.tls = tls
    }

    public func run() async throws {
        JSONLogHandler.bootstrap(format: configuration.logFormat)
        let logger = Logger(label: "bulwark.venue")
        let clock = SystemClock()
        let folder = DataFolder(path: configuration.dataDirectory)
        try FileManager.default.createDirectory(
            atPath: folder.path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let settings = configuration.venue
        let journal = try settings.journal.durability.map { try FileVenueJournal(path: folder.venueJournalPath, durability: $0) }
        let events = VenueEventBroadcaster(ringCapacity: replayEvents)
        let venue = BuiltinVenue(
            instruments: DemoMarket.instruments, events: events,
            settings: BuiltinVenue.Settings(journal: journal, accountLimits: settings.accountLimits, bookDepth: settings.bookDepth))
        let recovery = try await VenueRecovery.recover(venue, journalPath: folder.venueJournalPath, logger: logger)
        var liquidity: LiquidityDriver?
        if demo {
            let house = DemoMarket.venueHouseAccountID
            await venue.applyDeposits(DemoMarket.venueHouseDeposits, nowMs: clock.nowMs())
            await venue.seedHouseLiquidity(accountID: house, nowMs: clock.nowMs())
            if settings.liquidityIntervalMs > 0 {
                liquidity = LiquidityDriver(venue: venue, clock: clock, houseAccountID: house, intervalMs: settings.liquidityIntervalMs)
            }
        }
        var banner = ["", "Bulwark venue", "  data       \(folder.path)"]
        if journal == nil {
            banner.append("  venue journal OFF: orders are lost at restart")
        } else {
            banner.append(
                "  venue journal: \(recovery.entries) entries replayed (\(recovery.orders) orders, \(recovery.openOrders) open, \(recovery.fills) fills)")
        }
        if demo { banner.append("  demo market: house liquidity (account \(DemoMarket.venueHouseAccountID))") }
        let server = VenueGRPCServer(venue: venue, events: events, host: host, port: port, tls: tls)
        let service = VenueProcessService(
            server: server, liquidity: liquidity, logger: logger,
            onListening: { [readyFile, host, banner, tls] bound in
                let url = "\(tls == nil ? "grpc" : "grpcs")://\(host.contains(":") ? "[\(host)]" : host):\(bound)"
                let security =
                    switch (tls, tls?.clientCAFile) {
                    case (nil, _): "plaintext gRPC: loopback or a private network only"
                    case (_?, nil): "TLS; no client certificates: anyone who reaches it can trade"
                    case (_?, _?): "mutual TLS"
                    }
                let lines = banner + ["  listening  \(url) (\(security))", "  gateways:  bulwark serve --venue \(url)", ""]
                // Printed in one write so the banner is never interleaved with log lines.
                FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
                if let readyFile { try SecretFile.writePublic("\(host):\(bound)\n", to: readyFile) }
            })
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("venue stopped")
    }
}

/// The venue process as a ServiceLifecycle service: the gRPC server and the demo simulator, both
/// cancelled on SIGTERM/SIGINT (every operation is journaled before it is answered, so stopping
/// between two operations loses nothing).
struct VenueProcessService: Service {
    let server: VenueGRPCServer
    let liquidity: LiquidityDriver?
    let logger: Logger
    let onListening: @Sendable (Int) async throws -> Void

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await server.run(onListening: onListening) }
                if let liquidity { tasks.addTask { await liquidity.run() } }
                try await tasks.next()
                tasks.cancelAll()
            }
        }
    }
}
