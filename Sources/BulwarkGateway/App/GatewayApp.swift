import BulwarkAuth
import BulwarkCore
import BulwarkSessions
import BulwarkStore
import BulwarkVenue
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import NIOWebSocket

/// The node's shared services, wired once at start. Handlers and connections reach everything
/// through this one value instead of globals.
public final class GatewayApp: Sendable {
    let configuration: GatewayConfiguration
    let clock: any WallClock
    let store: SQLiteStore
    let sessions: SessionRegistry
    let login: SignatureLogin
    let loginThrottle: LoginThrottle
    let mfa: MFAService
    let risk: SessionRiskService
    let protection = DisconnectProtection()
    let savedSubscriptions = SavedSubscriptions()
    let hub: FanoutHub
    let venue: BuiltinVenue
    let marketData: MarketDataPublisher
    let metrics = GatewayMetrics()
    let connections = ConnectionDirectory()
    let identity: IdentityKey
    let logger: Logger
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
        configuration: GatewayConfiguration, clock: any WallClock, store: SQLiteStore, identity: IdentityKey,
        venue: BuiltinVenue, hub: FanoutHub, marketData: MarketDataPublisher, logger: Logger
    ) {
        self.configuration = configuration
        self.clock = clock
        self.store = store
        self.identity = identity
        self.venue = venue
        self.hub = hub
        self.marketData = marketData
        self.logger = logger
        sessions = SessionRegistry(
            policy: SessionPolicy(
                idleTimeoutMs: configuration.sessionIdleTimeoutMs, absoluteTimeoutMs: configuration.sessionAbsoluteTimeoutMs,
                warningLeadMs: configuration.sessionWarningLeadMs, maxPerAccount: configuration.sessionsPerAccount,
                onLimit: configuration.sessionLimitBehaviour, stepUpTTLMs: configuration.stepUpTTLMs),
            journal: SessionLifecycleJournal(
                store: StoreSessionJournal(store: store, logger: logger), privateLog: marketData.privateLog,
                savedSubscriptions: savedSubscriptions))
        let masterKeyPath = configuration.masterKeyFile ?? DataFolder(path: configuration.dataDirectory).masterKeyPath
        mfa = MFAService(store: store, policy: configuration.mfa) { try SecretBox(masterKey: SecretBox.loadKey(file: masterKeyPath)) }
        risk = SessionRiskService(
            policy: configuration.riskPolicy, enabled: configuration.riskEnabled, rateWindowMs: configuration.riskRateWindowMs,
            sessions: sessions, publisher: marketData, logger: logger)
        login = SignatureLogin(
            directory: store, nonces: NonceCache(), recvWindowMs: configuration.recvWindowMs,
            hmac: SignatureLogin.HMACPolicy(enabled: configuration.hmacEnabled) {
                (try? SecretBox.loadKey(file: masterKeyPath)).flatMap { try? SecretBox(masterKey: $0) }
            })
        loginThrottle = LoginThrottle(policy: configuration.loginThrottle)
    }

    /// Structural limits of a client message (PROTOCOL.md §2), with one deliberate deviation: strings
    /// may be 6 KiB instead of 4 KiB, because an ML-DSA-65 signature is 3309 bytes, 4412 characters of
    /// base64url, and must fit in `public/auth`.
    static let messageLimits = JSONParserLimits(maxStringBytes: 6144)

    /// Ready when the store answers (the built-in venue is in-process and always reachable).
    func isReady() -> Bool { store.ping() }

    /// Called on the event loop right after `101 Switching Protocols`.
    func attachWebSocket(channel: any Channel) throws {
        let limits = configuration.limits
        let (stream, continuation) = AsyncStream.makeStream(of: InboundMessage.self)
        let inFlight = InFlightCounter()
        let intake = RequestIntake(
            parser: StrictJSONParser(limits: Self.messageLimits), continuation: continuation, inFlight: inFlight, maxInFlight: limits.maxInFlight)
        let handler = WebSocketConnectionHandler(limits: limits, sink: intake)
        try channel.pipeline.syncOperations.addHandler(handler)
        let outbound = ConnectionOutbound(channel: channel, handler: handler)
        intake.outbound = outbound
        let clientIP = channel.remoteAddress?.ipAddress ?? "unknown"
        // The validated client certificate, if any (mTLS): keys pinned to a certificate need it.
        let peerCertificate = try? channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate
        let certificateSHA256 = (try? peerCertificate?.toDERBytes()).map(ClientCertificateVerifier.fingerprintOfDER)
        let connection = Connection(
            id: Identifier.random(prefix: "c", bytes: 12), outbound: outbound, clientIP: clientIP,
            clientCertificateSHA256: certificateSHA256, app: self)
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
