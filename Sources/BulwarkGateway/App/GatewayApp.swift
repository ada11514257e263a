import BulwarkAuth
import BulwarkCore
import BulwarkSessions
import BulwarkStore
import BulwarkVenue
import BulwarkVenueRPC
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL
import NIOWebSocket

/// The node's shared services, wired once at start. Handlers and connections reach everything
/// through this one value instead of globals.
public final class GatewayApp: Sendable {
    let configuration: GatewayConfiguration
    let clock: any WallClock
    let store: any Store
    let sessions: SessionRegistry
    /// Session records in the store (and the ends waiting to be written there).
    let sessionJournal: StoreSessionJournal
    /// The exchange of per-account rate-limit spending with the other nodes (PostgreSQL only).
    var clusterRateSync: ClusterRateSync? {
        guard let ledger = rateLimits.accounts.ledger, let exchange = store as? any RateCounterExchange else { return nil }
        return ClusterRateSync(
            exchange: exchange, ledger: ledger, limits: rateLimits.accounts, node: configuration.nodeID,
            interval: .milliseconds(configuration.rateSyncMs), clock: clock, logger: logger)
    }
    /// Set when several nodes share the store (PostgreSQL): the session limit counts them all.
    let clusterSessions: ClusterSessions?
    let login: SignatureLogin
    let loginThrottle: LoginThrottle
    let mfa: MFAService
    let adminGuard: AdminGuard
    let risk: SessionRiskService
    let protection = DisconnectProtection()
    let savedSubscriptions = SavedSubscriptions()
    let audit: AuditTrail
    let blocks: IPBlockList
    let killSwitches: KillSwitches
    let monitor: SecurityMonitor
    let rateLimits: RateLimits
    let hub: FanoutHub
    /// The built-in venue, or a venue process reached over gRPC (`venue.url`).
    let venue: any Venue
    let marketData: MarketDataPublisher
    let metrics = GatewayMetrics()
    let connections = ConnectionDirectory()
    let identity: IdentityKey
    let logger: Logger
    let clientAddresses: ClientAddressResolver
    private let changeFeedBox = NIOLockedValueBox<ChangeFeedFollower?>(nil)
    private let oauthBox = NIOLockedValueBox<OAuthService?>(nil)

    /// The OAuth side, set once the listener is bound (the issuer URL names its port); nil before.
    var oauth: OAuthService? {
        get { oauthBox.withLockedValue { $0 } }
        set { oauthBox.withLockedValue { $0 = newValue } }
    }

    var masterKeyPath: String { configuration.masterKeyFile ?? DataFolder(path: configuration.dataDirectory).masterKeyPath }

    /// Set once at start (it needs the app itself).
    var changeFeed: ChangeFeedFollower {
        get { changeFeedBox.withLockedValue { $0! } }
        set { changeFeedBox.withLockedValue { $0 = newValue } }
    }

    init(
        configuration: GatewayConfiguration, clock: any WallClock, store: any Store, identity: IdentityKey,
        venue: any Venue, hub: FanoutHub, marketData: MarketDataPublisher, logger: Logger
    ) {
        self.configuration = configuration
        self.clock = clock
        self.store = store
        self.identity = identity
        self.venue = venue
        self.hub = hub
        self.marketData = marketData
        self.logger = logger
        audit = AuditTrail(store: store, identity: identity.privateKey, clock: clock, logger: logger)
        clientAddresses = ClientAddressResolver(trustedProxies: configuration.trustedProxies)
        sessionJournal = StoreSessionJournal(store: store, logger: logger)
        let sessionPolicy = SessionPolicy(
            idleTimeoutMs: configuration.sessionIdleTimeoutMs, absoluteTimeoutMs: configuration.sessionAbsoluteTimeoutMs,
            warningLeadMs: configuration.sessionWarningLeadMs, maxPerAccount: configuration.sessionsPerAccount,
            onLimit: configuration.sessionLimitBehaviour, stepUpTTLMs: configuration.stepUpTTLMs)
        sessions = SessionRegistry(
            policy: sessionPolicy,
            journal: SessionLifecycleJournal(
                store: sessionJournal, privateLog: marketData.privateLog,
                savedSubscriptions: savedSubscriptions, audit: audit))
        clusterSessions = (configuration.store == .sqlite ? nil : store as? any ClusterMembership).map {
            ClusterSessions(store: store, membership: $0, node: configuration.nodeID, policy: sessionPolicy)
        }
        let masterKeyPath = configuration.masterKeyFile ?? DataFolder(path: configuration.dataDirectory).masterKeyPath
        mfa = MFAService(store: store, policy: configuration.mfa) { try SecretBox(masterKey: SecretBox.loadKey(file: masterKeyPath)) }
        adminGuard = AdminGuard(
            token: (try? AdminToken.loadOrCreate(folder: DataFolder(path: configuration.dataDirectory))) ?? Base64URL.encode(SecureRandom.bytes(count: 32)),
            store: store, secretBox: { try SecretBox(masterKey: SecretBox.loadKey(file: masterKeyPath)) }, clock: clock)
        blocks = IPBlockList(store: store, clock: clock)
        killSwitches = KillSwitches(store: store)
        var monitorPolicy = SecurityMonitor.Policy()
        monitorPolicy.autoBlockEnabled = configuration.autoBlockEnabled
        monitorPolicy.autoBlockMs = configuration.autoBlockMs
        monitorPolicy.neverBlock = configuration.neverAutoBlock
        monitorPolicy.webhookURL = configuration.alertWebhookURL
        monitor = SecurityMonitor(
            policy: monitorPolicy, audit: audit, blocks: blocks, clock: clock, logger: logger, eventCounters: metrics.securityEvents)
        risk = SessionRiskService(
            policy: configuration.riskPolicy, enabled: configuration.riskEnabled, rateWindowMs: configuration.riskRateWindowMs,
            sessions: sessions, publisher: marketData, monitor: monitor, logger: logger)
        login = SignatureLogin(
            directory: store, nonces: NonceCache(), recvWindowMs: configuration.recvWindowMs,
            hmac: SignatureLogin.HMACPolicy(enabled: configuration.hmacEnabled) {
                (try? SecretBox.loadKey(file: masterKeyPath)).flatMap { try? SecretBox(masterKey: $0) }
            })
        loginThrottle = LoginThrottle(policy: configuration.loginThrottle)
        // Several nodes on one store share per-account spending (none to share with on SQLite).
        let ledger = configuration.store != .sqlite && store is any RateCounterExchange ? ClusterRateLedger(startedMs: clock.nowMs()) : nil
        rateLimits = RateLimits(
            settings: configuration.rateLimits, logger: logger, tierOf: { try? store.accountTier(id: $0) },
            journal: { ban in
                try? store.recordBan(
                    BanRecord(subject: ban.subject.description, sinceMs: ban.sinceMs, untilMs: ban.untilMs, level: ban.level, reason: ban.reason))
            }, ledger: ledger)
        // Bans outlive a restart (an abuser does not get a fresh start by crashing us).
        for record in (try? store.activeBans(nowMs: clock.nowMs())) ?? [] {
            guard let subject = BanSubject(record.subject) else { continue }
            rateLimits.abuse.bans.restore(
                BanList.Ban(subject: subject, sinceMs: record.sinceMs, untilMs: record.untilMs, level: record.level, reason: record.reason))
        }
    }

    /// Structural limits of a client message (PROTOCOL.md §2), with one deliberate deviation: strings
    /// may be 6 KiB instead of 4 KiB, because an ML-DSA-65 signature is 3309 bytes, 4412 characters of
    /// base64url, and must fit in `public/auth`.
    static let messageLimits = JSONParserLimits(maxStringBytes: 6144)

    /// Ready when the store answers (the built-in venue is in-process and always reachable).
    func isReady() -> Bool { store.ping() }

    /// The metrics in the Prometheus text format (`/admin/v1/metrics`, and `/metrics` when public).
    func metricsText() -> String {
        let now = clock.nowMs()
        let live = sessions.all
        let byLevel = RiskLevel.allCases.map { level in (level, live.filter { $0.risk.level == level }.count) }
        let queue = audit.queueState(nowUs: clock.nowUs())
        return MetricsExposition.render(metrics, subscriptions: hub.subscriptionCount)
            + MetricsExposition.renderSecurity(
                sessions: byLevel, auditQueued: queue.count, auditDropped: audit.dropped.load(ordering: .relaxed), auditLagMs: queue.lagMs,
                killSwitches: (try? store.killSwitches().count) ?? 0, ipBlocks: (try? store.ipBlocks(activeAtMs: now).count) ?? 0)
            + ((venue as? RemoteVenue).map { MetricsExposition.renderVenueLink(up: $0.isLinkUp) } ?? "")
    }

    /// Called on the event loop right after `101 Switching Protocols`.
    func attachWebSocket(channel: any Channel, request: HTTPRequestHead, endpoint: UpgradePolicy.Endpoint) throws {
        switch endpoint {
        case .rpc: try attachRPC(channel: channel, request: request)
        case .conformanceEcho: try attachConformanceEcho(channel: channel)
        }
    }

    private func attachConformanceEcho(channel: any Channel) throws {
        let echo = ConformanceEcho()
        // Echoed messages are reliable data up to 16 MiB; the queue must hold a few of them.
        let (handler, _) = try DataPlanePipeline.install(
            on: channel, frameLimits: .conformanceEcho, limits: configuration.limits,
            queueLimitBytes: 4 * FrameLimits.conformanceEcho.maxMessageBytes, metrics: metrics, sink: echo)
        echo.handler = handler
    }

    /// The client's address: the socket peer, or what a trusted proxy says (PROXY v2 or
    /// X-Forwarded-For). Blocks, rate limits, sessions and the audit all use this one answer.
    func clientAddress(of channel: any Channel, request: HTTPRequestHead?) -> String {
        clientAddresses.clientIP(
            socketPeer: channel.remoteAddress?.ipAddress ?? "unknown",
            proxyProtocolSource: try? channel.pipeline.syncOperations.handler(type: ProxyProtocolHandler.self).sourceIP,
            forwardedFor: request?.headers["X-Forwarded-For"] ?? [])
    }

    private func attachRPC(channel: any Channel, request: HTTPRequestHead) throws {
        let limits = configuration.limits
        let (stream, continuation) = AsyncStream.makeStream(of: InboundMessage.self)
        let inFlight = InFlightCounter()
        let intake = RequestIntake(
            parser: StrictJSONParser(limits: Self.messageLimits), continuation: continuation, inFlight: inFlight, maxInFlight: limits.maxInFlight)
        let (handler, queue) = try DataPlanePipeline.install(
            on: channel, frameLimits: FrameLimits(limits), limits: limits, queueLimitBytes: limits.maxOutboundBytes,
            metrics: metrics, sink: intake)
        let outbound = ConnectionOutbound(channel: channel, handler: handler, queue: queue)
        intake.outbound = outbound
        let clientIP = clientAddress(of: channel, request: request)
        // The validated client certificate, if any (mTLS): keys pinned to a certificate need it.
        let peerCertificate = try? channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate
        let certificateSHA256 = (try? peerCertificate?.toDERBytes()).map(ClientCertificateVerifier.fingerprintOfDER)
        let connection = Connection(
            id: Identifier.random(prefix: "c", bytes: 12), outbound: outbound, clientIP: clientIP,
            clientCertificateSHA256: certificateSHA256, app: self)
        let subscriber = outbound.subscriber(connectionID: connection.id)
        queue.onResync = { [marketData] topics in marketData.resync(topicKeys: topics, subscriber: subscriber) }
        connections.add(connection)
        metrics.connectionsOpen.add(1, ordering: .relaxed)
        Task { [metrics] in
            await connection.start()
            for await message in stream {
                switch message {
                case .request(let request): await connection.handle(request)
                case .sealed(let frame): await connection.handleSealed(frame)
                }
                inFlight.decrement()
            }
            await connection.closed()
            metrics.connectionsOpen.subtract(1, ordering: .relaxed)
        }
    }
}
