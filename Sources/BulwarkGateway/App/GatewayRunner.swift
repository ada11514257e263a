import BulwarkAuth
import BulwarkCore
import BulwarkStore
import BulwarkVenue
import BulwarkVenueRPC
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// Starts a gateway from a configuration: provisions the data folder, wires the services, serves
/// until SIGTERM or SIGINT, then drains and returns (exit status 0).
public struct GatewayRunner: Sendable {
    public let configuration: GatewayConfiguration
    public let readyFile: String?

    public init(configuration: GatewayConfiguration, readyFile: String?) {
        self.configuration = configuration
        self.readyFile = readyFile
    }

    public func run() async throws {
        JSONLogHandler.bootstrap(format: configuration.logFormat)
        let logger = Logger(label: "bulwark")
        let clock = SystemClock()
        let folder = DataFolder(path: configuration.dataDirectory)
        let (store, identity, report) = try folder.prepare(
            clock: clock, demo: configuration.demoEnabled, store: configuration.store, nodeID: configuration.nodeID)


        let hub = FanoutHub()
        let marketData = MarketDataPublisher(hub: hub, privateLog: PrivateEventLog(capacity: configuration.replayEvents))
        let venueSettings = configuration.venue
        let venue: any Venue
        // Split mode (`venue.url`): the venue process owns the journal, the house liquidity and the
        // simulator; this gateway forwards deposits each time the link comes up (idempotent by id).
        var remoteVenue: RemoteVenue?
        var builtinVenue: BuiltinVenue?
        var journal: FileVenueJournal?
        var recovery: RecoveryReport?
        if let remote = venueSettings.remote {
            do {
                remoteVenue = try RemoteVenue(
                    host: remote.host, port: remote.port, tls: venueSettings.remoteTLS, events: marketData, timeoutMs: venueSettings.timeoutMs,
                    logger: logger)
            } catch {
                throw BootstrapError("venue.url \(remote): \(error)")
            }
            venue = remoteVenue!
        } else {
            journal = try venueSettings.journal.durability.map { try FileVenueJournal(path: folder.venueJournalPath, durability: $0) }
            let builtin = BuiltinVenue(
                instruments: DemoMarket.instruments, events: marketData,
                settings: BuiltinVenue.Settings(journal: journal, accountLimits: venueSettings.accountLimits, bookDepth: venueSettings.bookDepth))
            recovery = try await VenueRecovery.recover(builtin, journalPath: folder.venueJournalPath, logger: logger)
            builtinVenue = builtin
            venue = builtin
        }
        marketData.venue = venue
        // Read the feed position first: a deposit landing in between is then both read here and
        // replayed by the follower, and the venue ignores the second copy (deposit ids are unique).
        let startChangeSeq = try store.latestChangeSeq()
        // A cluster node says it is alive before it holds any session (the others end the sessions
        // of nodes that do not).
        if configuration.store != .sqlite, let membership = store as? any ClusterMembership {
            try membership.heartbeat(node: configuration.nodeID)
            if builtinVenue != nil { try BuiltinVenueClaim(store: store, membership: membership, node: configuration.nodeID).claim() }
        }
        // Sessions a previous run left open lost their connections when it stopped.
        let orphaned = try store.endOrphanedSessions(atMs: clock.nowMs())
        if orphaned > 0 { logger.info("ended sessions left open by the previous run", metadata: ["sessions": "\(orphaned)"]) }
        var funded = 0
        var houseAccountID: String?
        if let builtinVenue {
            funded = await builtinVenue.applyDeposits(try store.deposits().map(\.venueDeposit), nowMs: clock.nowMs())
            if configuration.demoEnabled, let house = try store.account(named: DemoMarket.houseAccountName) {
                await builtinVenue.seedHouseLiquidity(accountID: house.id, nowMs: clock.nowMs())
                houseAccountID = house.id
            }
        }
        let app = GatewayApp(
            configuration: configuration, clock: clock, store: store, identity: identity, venue: venue, hub: hub,
            marketData: marketData, logger: logger)
        try app.blocks.reload()
        try app.killSwitches.reload()
        marketData.audit = app.audit
        app.audit.record("gateway.started", actor: "system", outcome: .info, details: ["listen": "\(configuration.listenHost):\(configuration.listenPort)"])
        let tls: TLSContextProvider?
        if configuration.tlsEnabled {
            let source = TLSContextProvider.Source(
                certificatePath: configuration.tlsCertificateFile ?? folder.pki.serverCertificatePath,
                keyPath: configuration.tlsKeyFile ?? folder.pki.serverKeyPath, minimumVersion: configuration.tlsMinimumVersion,
                clientAuth: configuration.clientAuth, clientCAPath: configuration.clientCAFile, crlPaths: configuration.crlFiles)
            do {
                tls = try TLSContextProvider(source: source, logger: logger, metrics: app.metrics)
            } catch {
                throw BootstrapError("TLS certificate \(source.certificatePath): \(error)")
            }
            tls?.checkExpiry()
        } else {
            tls = nil
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let server = GatewayServer(app: app, group: group, tls: tls)
        let address = try await server.start()
        var adminURL: String?
        var adminServer: AdminServer?
        var adminTLS: TLSContextProvider?
        if let admin = configuration.admin {
            // Same server certificate; client certificates from the admin CA are mandatory.
            let source = TLSContextProvider.Source(
                certificatePath: configuration.tlsCertificateFile ?? folder.pki.serverCertificatePath,
                keyPath: configuration.tlsKeyFile ?? folder.pki.serverKeyPath, minimumVersion: .tls13, clientAuth: .required,
                clientCAPath: admin.clientCAFile, crlPaths: admin.crlFiles)
            do {
                adminTLS = try TLSContextProvider(source: source, logger: logger, metrics: app.metrics)
            } catch {
                throw BootstrapError("admin listener TLS: \(error)")
            }
            let server = AdminServer(app: app, group: group, tls: adminTLS!)
            let bound = try await server.start(host: admin.host, port: admin.port)
            adminServer = server
            adminURL = "https://\(admin.host.contains(":") ? "[\(admin.host)]" : admin.host):\(bound.port ?? admin.port)/admin/v1"
        }
        let scheme = configuration.tlsEnabled ? "wss" : "ws"
        let hostForURL = configuration.listenHost.contains(":") ? "[\(configuration.listenHost)]" : configuration.listenHost
        let issuer = configuration.oauth.issuer
            ?? "\(configuration.tlsEnabled ? "https" : "http")://\(hostForURL):\(address.port ?? configuration.listenPort)"
        app.oauth = try OAuthService(
            configuration: configuration, issuer: issuer, store: store, box: try SecretBox(masterKey: SecretBox.loadKey(file: app.masterKeyPath)),
            identity: identity, sessions: app.sessions, clock: clock, logger: logger)
        let url = "\(scheme)://\(hostForURL):\(address.port ?? configuration.listenPort)\(GatewayServer.webSocketPath)"
        if let demo = report.demo { try folder.writeDemoInfo(demo, url: url) }
        printBanner(
            report: report, folder: folder, url: url, identity: identity, deposits: funded, recovery: journal == nil ? nil : recovery, tls: tls,
            adminURL: adminURL, remoteVenue: remoteVenue?.address)
        var readyText = "\(configuration.listenHost):\(address.port ?? 0)\n"
        if let adminURL { readyText += adminURL + "\n" }

        app.changeFeed = ChangeFeedFollower(app: app, afterSeq: startChangeSeq)
        let service = GatewayService(
            app: app, server: server, adminServer: adminServer, tls: [tls, adminTLS].compactMap { $0 },
            liquidity: houseAccountID.flatMap { house in
                guard let builtinVenue, venueSettings.liquidityIntervalMs > 0 else { return nil }
                return LiquidityDriver(venue: builtinVenue, clock: clock, houseAccountID: house, intervalMs: venueSettings.liquidityIntervalMs)
            },
            remoteVenue: remoteVenue,
            ready: readyFile.map { (path: $0, text: readyText) }, logger: logger)
        let group2 = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group2.run()
        try await group.shutdownGracefully()
        logger.info("stopped")
    }

    private func printBanner(
        report: DataFolder.Report, folder: DataFolder, url: String, identity: IdentityKey, deposits: Int, recovery: RecoveryReport?,
        tls: TLSContextProvider?, adminURL: String?, remoteVenue: String?
    ) {
        var lines: [String] = ["", "Bulwark gateway"]
        for line in report.created { lines.append("  created  \(line)") }
        for line in report.reused { lines.append("  reused   \(line)") }
        lines.append("  gateway identity (Ed25519): \(identity.publicKeyB64u)")
        if let remoteVenue {
            // Its journal and liquidity are the venue process's; deposits follow once the link is up.
            lines.append("  venue      \(remoteVenue) (a venue process; deposits are forwarded once the link is up)")
        } else {
            lines.append("  credited \(deposits) deposit(s) to the built-in venue")
            if let recovery {
                lines.append(
                    "  venue journal: \(recovery.entries) entries replayed (\(recovery.orders) orders, \(recovery.openOrders) open, \(recovery.fills) fills)")
            } else {
                lines.append("  venue journal OFF: orders are lost at restart")
            }
        }
        lines.append("")
        lines.append("  listening  \(url)")
        if let adminURL { lines.append("  admin      \(adminURL) (mutual TLS)") }
        if let tls {
            lines.append("  TLS cert   sha256 \(tls.bundle.fingerprint), \(tls.bundle.daysLeft()) days left")
        }
        if configuration.tlsEnabled {
            lines.append("  trust CA   \(folder.pki.caCertificatePath)")
        } else {
            lines.append("  WARNING    plain ws:// on loopback (development only)")
        }
        if let demo = report.demo {
            lines.append("  demo key   \(demo.keyID) (account \(demo.accountID)), private key \(demo.privateKeyPath)")
            lines.append("")
            lines.append("  try it:    python3 examples/walkthrough.py --data \(folder.path)")
        }
        lines.append("")
        // Printed in one write so the banner is never interleaved with log lines.
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

/// The running gateway as a ServiceLifecycle service: serves, follows the change feed, expires
/// sessions, and on graceful shutdown drains connections.
struct GatewayService: Service {
    let app: GatewayApp
    let server: GatewayServer
    let adminServer: AdminServer?
    let tls: [TLSContextProvider]
    /// The demo liquidity simulator, when it runs.
    let liquidity: LiquidityDriver?
    /// The venue process's link, in split mode.
    let remoteVenue: RemoteVenue?
    /// Written once the service runs: by then the service group handles SIGTERM, so a script that
    /// waits for this file and signals at once gets a graceful shutdown, not a killed process.
    let ready: (path: String, text: String)?
    let logger: Logger

    func run() async throws {
        if let ready { try SecretFile.writePublic(ready.text, to: ready.path) }
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await app.changeFeed.run() }
            tasks.addTask { await SessionSweeper(app: app).run() }
            tasks.addTask { await app.audit.run() }
            if let sync = app.clusterRateSync { tasks.addTask { await sync.run() } }
            if app.configuration.store != .sqlite, let membership = app.store as? any ClusterMembership {
                let heartbeat = ClusterHeartbeat(membership: membership, node: app.configuration.nodeID, logger: app.logger)
                tasks.addTask { await heartbeat.run() }
            }
            if let liquidity { tasks.addTask { await liquidity.run() } }
            if let remoteVenue {
                tasks.addTask {
                    await remoteVenue.run {
                        // Each time the link comes up: deposits the venue may not have (idempotent by id).
                        do {
                            let deposits = try app.store.deposits().map(\.venueDeposit)
                            let credited = try await remoteVenue.applyDeposits(deposits, nowMs: app.clock.nowMs())
                            if credited > 0 { app.logger.info("deposits forwarded to the venue", metadata: ["credited": "\(credited)"]) }
                        } catch {
                            app.logger.error("forwarding deposits to the venue failed", metadata: ["error": "\(error)"])
                        }
                    }
                }
            }
            for provider in tls {
                tasks.addTask { await CertificateWatcher(tls: provider).pollFiles() }
                tasks.addTask { await CertificateWatcher(tls: provider).reloadOnSIGHUP() }
                tasks.addTask { await CertificateWatcher(tls: provider).checkExpiryDaily() }
            }
            tasks.addTask {
                try? await gracefulShutdown()
                await drain()
            }
            await tasks.next()
            tasks.cancelAll()
        }
    }

    /// Stop accepting, send `server.shutdown` to everyone, wait the drain time, close with 1001.
    private func drain() async {
        // Whatever happens below, the audit queue reaches the disk before the process exits.
        defer {
            app.audit.record("gateway.stopped", actor: "system", outcome: .info)
            app.audit.flush()
            // The chain's last record is vouched for by a signature before the process exits.
            app.audit.checkpoint()
        }
        logger.info("shutting down", metadata: ["connections": "\(app.connections.count)"])
        await server.stopAccepting()
        await adminServer?.stop()
        let connections = app.connections.all
        guard !connections.isEmpty else { return }
        let drainMs = app.configuration.shutdownDrainMs
        let deadline = app.clock.nowMs() + drainMs
        for connection in connections { await connection.beginShutdown(deadlineMs: deadline) }
        try? await Task.sleep(for: .milliseconds(drainMs))
        for connection in connections { await connection.finishShutdown() }
        // Give close handshakes a moment; the handler closes sockets itself after 2 s at most.
        for _ in 0..<20 where app.connections.count > 0 { try? await Task.sleep(for: .milliseconds(100)) }
    }
}

/// Applies changes made by other processes (the CLI, other gateway nodes) to this node, and
/// catches up synchronously at each login, so a script that creates an account, funds it and logs
/// in straight away never races the follower.
///
/// SQLite: the feed is polled every 250 ms. PostgreSQL: every notification (and every reconnect of
/// the listener) triggers a read at once, and a 1 s poll backs it up; a revocation on one node
/// reaches every node's sockets in well under a second either way.
actor ChangeFeedFollower {
    let app: GatewayApp
    private var cursor: Int64
    /// Reads failed in a row (the store is unreachable).
    private var failedReads = 0
    static let pollInterval = Duration.milliseconds(250)
    static let backstopInterval = Duration.seconds(1)

    init(app: GatewayApp, afterSeq: Int64) {
        self.app = app
        self.cursor = afterSeq
    }

    func run() async {
        guard let notifier = app.store as? any ChangeNotifier else {
            await poll(every: Self.pollInterval)
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in notifier.changeNotifications() { await self.catchUp() }
            }
            group.addTask { await self.poll(every: Self.backstopInterval) }
            await group.waitForAll()
        }
    }

    private func poll(every interval: Duration) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await catchUp()
        }
    }

    func catchUp() async {
        do {
            for change in try app.store.changes(afterSeq: cursor) {
                cursor = change.seq
                await apply(change)
            }
            if failedReads > 0 {
                app.logger.notice("change feed readable again", metadata: ["failed_reads": "\(failedReads)"])
                failedReads = 0
            }
        } catch {
            // An outage fails every poll (each second, or 4 a second on SQLite): the first failure
            // and every 60th after it are logged, and the recovery.
            if failedReads % 60 == 0 {
                app.logger.error("change feed read failed", metadata: ["error": "\(error)", "failed_reads": "\(failedReads + 1)"])
            }
            failedReads += 1
        }
    }

    private func apply(_ change: ChangeEvent) async {
        switch change.kind {
        case .keyRevoked:
            let ended = app.sessions.endAll(keyID: change.subject, reason: .keyRevoked, nowMs: app.clock.nowMs())
            app.logger.notice("key revoked", metadata: ["key": "\(change.subject)", "sessions_ended": "\(ended)"])
        case .tokenRevoked:
            _ = app.sessions.endAll(keyID: change.subject, reason: .tokenRevoked, nowMs: app.clock.nowMs())
        case .signingKeysChanged:
            app.oauth?.reloadKeys()
        case .keyUnlocked:
            app.loginThrottle.reset(keyID: change.subject)
        case .accountDisabled:
            app.sessions.endAll(accountID: change.subject, reason: .accountDisabled, nowMs: app.clock.nowMs())
        case .killSwitch:
            await applyKillSwitchChange(id: Int64(change.subject))
        case .ipBlocks:
            applyIPBlockChange()
        case .sessionRevoked:
            let ended = app.sessions.end(id: change.subject, reason: .revoked, nowMs: app.clock.nowMs())
            app.logger.notice("session revoked by an operator", metadata: ["session_hash": "\(SessionHash.of(change.subject))", "live": "\(ended)"])
        case .sessionMoved:
            // Also this node's own takeovers: let go only when another node took the session.
            guard let move = SessionMove(subject: change.subject), move.toNode != app.configuration.nodeID,
                app.sessions.release(id: move.sessionID)
            else { break }
            // Its client resumed elsewhere: cancel-on-disconnect must not fire here.
            app.protection.sessionMovedAway(move.sessionID)
            app.risk.sessionEnded(move.sessionID)
            app.logger.notice(
                "session taken over by another node", metadata: ["session_hash": "\(SessionHash.of(move.sessionID))", "node": "\(move.toNode)"])
        case .banLifted:
            if let subject = BanSubject(change.subject) {
                let lifted = app.rateLimits.abuse.lift(subject, nowMs: app.clock.nowMs())
                app.logger.notice("ban lifted by an operator", metadata: ["subject": "\(subject)", "was_active": "\(lifted)"])
            }
        case .banImposed:
            // Another node's ban (or this node's own, already in force: restoring it is harmless).
            let now = app.clock.nowMs()
            if let record = try? app.store.activeBans(nowMs: now).first(where: { $0.subject == change.subject }),
                let subject = BanSubject(record.subject)
            {
                app.rateLimits.abuse.bans.restore(
                    BanList.Ban(subject: subject, sinceMs: record.sinceMs, untilMs: record.untilMs, level: record.level, reason: record.reason))
            }
        case .accountTierChanged:
            app.rateLimits.accounts.forgetTier(accountID: change.subject)
        case .deposit:
            if let id = Int64(change.subject), let deposit = try? app.store.deposit(id: id) {
                // An unreachable venue gets it when the link is back (every deposit is forwarded then).
                _ = try? await app.venue.applyDeposits([deposit.venueDeposit], nowMs: app.clock.nowMs())
            }
        }
    }
}

extension ChangeFeedFollower {
    /// A kill switch was engaged or released (possibly by the CLI): reload, and enforce an engagement.
    func applyKillSwitchChange(id: Int64?) async {
        do {
            try app.killSwitches.reload()
        } catch {
            app.logger.error("kill switch reload failed", metadata: ["error": "\(error)"])
        }
        guard let id, let record = try? app.store.killSwitch(id: id), record.isActive else { return }
        let (orders, sessions) = await app.killSwitches.enforce(record, app: app)
        app.logger.critical(
            "kill switch engaged", metadata: ["scope": "\(record.scope.rawValue)", "subject": "\(record.subject)", "orders_cancelled": "\(orders)", "sessions_ended": "\(sessions)"])
        app.audit.record(
            "killswitch.enforced", actor: "system", credentialID: record.scope == .key ? record.subject : nil, outcome: .success,
            details: ["scope": record.scope.rawValue, "subject": record.subject, "orders_cancelled": String(orders), "sessions_ended": String(sessions)])
    }

    /// The block list changed: reload, and close live connections from newly blocked addresses.
    func applyIPBlockChange() {
        do {
            try app.blocks.reload()
        } catch {
            app.logger.error("IP block list reload failed", metadata: ["error": "\(error)"])
        }
        app.connections.closeBlocked(app.blocks)
    }
}

/// Once a second: re-scores every session (time passes: failures age, step-ups fade), warns the
/// ones close to a deadline, and ends those whose idle or absolute deadline passed (close 4001).
struct SessionSweeper {
    let app: GatewayApp

    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let now = app.clock.nowMs()
            app.risk.reassessAll(nowMs: now)
            app.sessions.warnExpiring(nowMs: now)
            app.sessions.expire(nowMs: now)
            app.sessionJournal.retryEnds()
        }
    }
}

extension Deposit {
    var venueDeposit: VenueDeposit { VenueDeposit(id: id, accountID: accountID, asset: asset, amount: amount) }
}
