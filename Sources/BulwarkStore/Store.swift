import BulwarkCore

/// Everything the gateway and the CLI keep durably, independent of the database behind it.
///
/// Two implementations: `SQLiteStore` (the zero-configuration default, one file next to the
/// gateway) and `PostgresStore` (several gateway nodes sharing one database). Both run the same
/// contract tests. Calls are synchronous and may block the calling thread for one round trip to
/// the database; callers are actors and tasks, never NIO event-loop threads.
public protocol Store: CredentialDirectory, OAuthRegistry, SessionRecordWriter, Sendable {
    // MARK: Accounts
    func createAccount(name: String, nowMs: Int64) throws -> AccountRecord
    func account(id: String) throws -> AccountRecord?
    func account(named name: String) throws -> AccountRecord?
    func accounts() throws -> [AccountRecord]
    func setAccountStatus(id: String, _ status: AccountStatus, nowMs: Int64) throws
    func accountTier(id: String) throws -> AccountTier?
    func setAccountTier(id: String, _ tier: AccountTier, nowMs: Int64) throws

    // MARK: API keys
    /// Stores a new key as given; `createKey(...)` in the extension below checks and builds it.
    func insertKey(_ record: APIKeyRecord) throws
    func apiKey(id: String) throws -> APIKeyRecord?
    func keys(accountID: String?) throws -> [APIKeyRecord]
    func revokeKey(id: String, nowMs: Int64) throws
    func setKeyExpiry(id: String, expiresMs: Int64) throws
    func lockKey(id: String, untilMs: Int64) throws
    func unlockKey(id: String, nowMs: Int64) throws
    func recordKeyUse(id: String, nowMs: Int64) throws
    /// Re-seals every sealed secret (HMAC secrets, TOTP seeds, signing keys) in one transaction.
    func resealSecrets(_ transform: (_ binding: String, _ sealed: String) throws -> String) throws -> Int

    // MARK: Deposits
    func deposit(accountID: String, asset: String, amount: FixedDecimal, nowMs: Int64) throws
    func deposits(afterID: Int64) throws -> [Deposit]
    func deposit(id: Int64) throws -> Deposit?

    // MARK: Change feed (cluster events)
    func changes(afterSeq: Int64, limit: Int) throws -> [ChangeEvent]
    func latestChangeSeq() throws -> Int64

    // MARK: Settings
    func setting(_ key: String) throws -> String?
    func setSetting(_ key: String, _ value: String) throws
    /// One cheap round trip: true while the database answers.
    func ping() -> Bool

    // MARK: Sessions (saving and ending records: SessionRecordWriter)
    /// Closes the sessions a stopped process left open. On SQLite (one gateway per file) that is
    /// every live session; on PostgreSQL each session row carries the `node_id` of the gateway that
    /// opened it (`PostgresStore(nodeID:)`), and only this node's sessions are closed, so a node
    /// restarting does not end its peers' live sessions.
    func endOrphanedSessions(atMs: Int64) throws -> Int
    /// Live sessions (`ended_ms` NULL) of an account across every node sharing the database: the
    /// cluster-wide concurrent-session limit.
    func liveSessionCount(accountID: String) throws -> Int
    func sessionRecord(id: String) throws -> SessionRecord?
    func sessionRecords(accountID: String?, includeEnded: Bool, limit: Int) throws -> [SessionRecord]
    func requestSessionRevocation(id: String, nowMs: Int64) throws
    func saveSessionSubscriptions(id: String, channels: [String]) throws
    func recordLoginOrigin(credentialID: String, ip: String, network: String, nowMs: Int64) throws -> OriginNovelty

    // MARK: MFA
    func saveTOTP(_ record: TOTPRecord, recoveryCodeHashes: [String]) throws
    func totp(accountID: String) throws -> TOTPRecord?
    func acceptTOTPCounter(accountID: String, counter: Int64, nowMs: Int64) throws -> Bool
    func recordTOTPFailure(accountID: String, lockAfter: Int, lockMs: Int64, nowMs: Int64) throws -> (failures: Int, lockedUntilMs: Int64?)
    func spendRecoveryCode(accountID: String, codeHash: String, nowMs: Int64) throws -> Bool
    func unusedRecoveryCodeHashes(accountID: String) throws -> [String]
    func unlockTOTP(accountID: String) throws
    func deleteTOTP(accountID: String) throws

    // MARK: Rate limits and bans
    func recordBan(_ ban: BanRecord) throws
    func activeBans(nowMs: Int64) throws -> [BanRecord]
    func liftBan(subject: String, nowMs: Int64, notify: Bool) throws

    // MARK: Audit trail
    func appendAudit(_ entries: [AuditEntry]) throws -> [AuditRecord]
    func auditRecords(afterSeq: Int64, limit: Int) throws -> [AuditRecord]
    func searchAudit(event: String?, actor: String?, sinceUs: Int64?, limit: Int) throws -> [AuditRecord]
    func auditTail() throws -> (seq: Int64, hash: String)

    // MARK: Incident response
    func engageKillSwitch(scope: KillSwitchRecord.Scope, subject: String, reason: String, by actor: String, nowMs: Int64) throws -> KillSwitchRecord
    func releaseKillSwitch(scope: KillSwitchRecord.Scope, subject: String, by actor: String, nowMs: Int64) throws -> KillSwitchRecord
    func killSwitches(includeReleased: Bool) throws -> [KillSwitchRecord]
    func killSwitch(id: Int64) throws -> KillSwitchRecord?
    func addIPBlock(_ network: IPNetwork, reason: String, by actor: String, nowMs: Int64, expiresMs: Int64?) throws -> IPBlockRecord
    func removeIPBlock(_ network: IPNetwork, nowMs: Int64) throws -> Int
    func ipBlocks(activeAtMs now: Int64?) throws -> [IPBlockRecord]

    // MARK: OAuth (the token-path part is `OAuthRegistry`)
    /// Stores a new client as given; `createOAuthClient(...)` in the extension below builds it.
    func insertOAuthClient(_ record: OAuthClientRecord) throws
    func oauthClients(accountID: String?) throws -> [OAuthClientRecord]
    /// Revokes the client and every token it holds; returns the access tokens' jtis.
    func revokeOAuthClient(id: String, nowMs: Int64) throws -> [String]
    func signingKeys() throws -> [SigningKeyRecord]
    func rotateSigningKey(_ record: SigningKeyRecord) throws
    func pruneSigningKeys(retiredBeforeMs cutoffMs: Int64) throws
}

/// What a change-feed follower waits on between reads, from a store that can push (PostgreSQL
/// LISTEN/NOTIFY). A store without it (SQLite) is polled.
public enum ChangeSignal: Sendable, Equatable {
    /// Re-read from your cursor: sent after every (re)connect of the listener, since notifications
    /// sent while it was disconnected are lost. Nothing is missed if the follower re-reads then.
    case catchUp
    /// A change with this `seq` was committed (a hint: read from the cursor, not just this seq).
    case changed(seq: Int64)
}

/// A store that signals committed changes (see `ChangeSignal`).
public protocol ChangeNotifier: Sendable {
    /// A new stream on its own listening connection; finishing the consumer (cancelling the task
    /// that iterates) closes that connection.
    func changeNotifications() -> AsyncStream<ChangeSignal>
}

/// The defaults callers rely on, and the checks and record building every implementation shares,
/// in one place.
extension Store {
    public func createKey(
        accountID: String, algorithm: KeyAlgorithm, publicKey: [UInt8], scopes: Set<Scope>, label: String,
        expiresMs: Int64?, clientCertificatePin: String? = nil, restrictions: KeyRestrictions = KeyRestrictions(),
        keyID: String = Identifier.random(prefix: "k", bytes: 12), sealedSecret: String? = nil,
        sealedPolicy: SealedFramePolicy = .none, nowMs: Int64
    ) throws -> APIKeyRecord {
        guard try account(id: accountID) != nil else { throw StoreError.notFound("account \(accountID)") }
        let record = APIKeyRecord(
            id: keyID, accountID: accountID, algorithm: algorithm,
            publicKey: publicKey, scopes: scopes, label: label, status: .active, createdMs: nowMs,
            expiresMs: expiresMs, clientCertificatePin: clientCertificatePin, restrictions: restrictions, sealedSecret: sealedSecret,
            sealedPolicy: sealedPolicy)
        try insertKey(record)
        return record
    }

    public func createOAuthClient(
        accountID: String, authMethod: OAuthClientAuthMethod, jwks: String?, secretHash: [UInt8]?, scopes: Set<Scope>, label: String,
        nowMs: Int64
    ) throws -> OAuthClientRecord {
        guard try account(id: accountID) != nil else { throw StoreError.notFound("account \(accountID)") }
        let record = OAuthClientRecord(
            id: Identifier.random(prefix: "cl", bytes: 12), accountID: accountID, authMethod: authMethod, jwks: jwks, secretHash: secretHash,
            scopes: scopes, label: label, createdMs: nowMs, revokedMs: nil)
        try insertOAuthClient(record)
        return record
    }

    public func keys() throws -> [APIKeyRecord] { try keys(accountID: nil) }
    public func deposits() throws -> [Deposit] { try deposits(afterID: 0) }
    public func changes(afterSeq: Int64) throws -> [ChangeEvent] { try changes(afterSeq: afterSeq, limit: 500) }
    public func sessionRecords(accountID: String? = nil, includeEnded: Bool = false) throws -> [SessionRecord] {
        try sessionRecords(accountID: accountID, includeEnded: includeEnded, limit: 500)
    }
    public func liftBan(subject: String, nowMs: Int64) throws { try liftBan(subject: subject, nowMs: nowMs, notify: true) }
    public func auditRecords(afterSeq: Int64 = 0) throws -> [AuditRecord] { try auditRecords(afterSeq: afterSeq, limit: 1000) }
    public func searchAudit(event: String? = nil, actor: String? = nil, sinceUs: Int64? = nil) throws -> [AuditRecord] {
        try searchAudit(event: event, actor: actor, sinceUs: sinceUs, limit: 200)
    }
    public func killSwitches() throws -> [KillSwitchRecord] { try killSwitches(includeReleased: false) }
    public func oauthClients() throws -> [OAuthClientRecord] { try oauthClients(accountID: nil) }
}

/// What a sealed secret is bound to (the AEAD's associated data), the same on every backend.
public enum SealedSecretBinding {
    public static func totpSeed(accountID: String) -> String { "totp:" + accountID }
    public static func signingKey(kid: String) -> String { "oauth-signing:" + kid }
}

/// A store several gateway nodes share, through which they exchange rate-limit spending
/// (`ClusterRateLedger`): PostgreSQL.
public protocol RateCounterExchange: Sendable {
    /// Adds `spending` to `node`'s counters, then returns the other nodes' counters that changed
    /// within the last `windowMs` (by the database's clock), in one round trip where possible.
    func exchangeRateCounters(node: String, spending: [ClusterRateLedger.Key: Int64], windowMs: Int64) throws -> [ClusterRateLedger.Counter]
}

/// What the gateway's session journal writes: a session's record while it lives, and its end.
public protocol SessionRecordWriter: Sendable {
    func saveSession(_ record: SessionRecord) throws
    func endSession(id: String, reason: String, atMs: Int64) throws
}

/// The subject of a `session_moved` change: the session and the node that holds it now (session
/// ids never contain a space; node names may).
public struct SessionMove: Sendable, Equatable {
    public let sessionID: String
    public let toNode: String

    public init(sessionID: String, toNode: String) {
        self.sessionID = sessionID
        self.toNode = toNode
    }

    public init?(subject: String) {
        guard let space = subject.firstIndex(of: " ") else { return nil }
        sessionID = String(subject[..<space])
        toNode = String(subject[subject.index(after: space)...])
    }

    public var subject: String { sessionID + " " + toNode }
}

/// Liveness of the gateway nodes sharing a store (PostgreSQL), so the sessions a node held when it
/// died do not stay "live" forever (they would count against the account's session limit).
public protocol ClusterMembership: Sendable {
    /// `node` is alive (by the database's clock).
    func heartbeat(node: String) throws
    /// Ends, with reason `node_lost`, the live sessions of nodes whose last heartbeat is older than
    /// `staleAfterMs`; returns how many.
    func endSessionsOfSilentNodes(staleAfterMs: Int64) throws -> Int
    /// The nodes whose last heartbeat is at most `staleAfterMs` old.
    func liveNodes(staleAfterMs: Int64) throws -> [String]
    /// Takes a live session held by `fromNode` over for `toNode` and appends a `session_moved`
    /// change; false if it ended or another node took it first.
    func moveSession(id: String, fromNode: String, toNode: String, nowMs: Int64) throws -> Bool
}
