import BulwarkAuth
import BulwarkCore
import BulwarkStore
import BulwarkVenue
import Crypto
import Foundation

/// The data folder's layout and its first-run provisioning, shared by `serve` and `init`.
///
///     DIR/bulwark.sqlite            accounts, keys, deposits, change feed (SQLite, WAL)
///     DIR/venue-journal.sqlite      the built-in venue's order journal (SQLite, WAL, fsync per entry)
///     DIR/tls/ca.pem                development CA certificate (clients trust this)
///     DIR/tls/ca-key.pem            its key (0600)
///     DIR/tls/server.pem, server-key.pem   server chain and key (0600)
///     DIR/keys/gateway-identity.pem the gateway's Ed25519 identity key (0600)
///     DIR/keys/master.key           the master key sealing secrets at rest (0600)
///     DIR/demo/demo-ed25519.pem     the demo API key's private key, written once (0600)
///     DIR/demo/demo.json            demo account and key ids, URL and CA path (no secrets)
public struct DataFolder: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public var databasePath: String { path + "/bulwark.sqlite" }
    public var venueJournalPath: String { path + "/venue-journal.sqlite" }
    public var pki: DevelopmentPKI { DevelopmentPKI(directory: path + "/tls") }
    public var identityKeyPath: String { path + "/keys/gateway-identity.pem" }
    public var masterKeyPath: String { path + "/keys/master.key" }
    public var demoDirectory: String { path + "/demo" }
    public var demoPrivateKeyPath: String { demoDirectory + "/demo-ed25519.pem" }
    public var demoInfoPath: String { demoDirectory + "/demo.json" }

    /// What provisioning did, for the start-up banner and `init --json`.
    public struct Report: Sendable {
        public var created: [String] = []
        public var reused: [String] = []
        public var demo: DemoCredentials?
    }

    public struct DemoCredentials: Sendable {
        public let accountID: String
        public let keyID: String
        public let privateKeyPath: String
    }

    /// Opens the store, creating the folder, database, TLS material and identity key as needed.
    public func prepare(
        clock: any WallClock, demo: Bool, store location: StoreLocation = .sqlite, nodeID: String? = nil
    ) throws -> (any Store, IdentityKey, Report) {
        var report = Report()
        let fileManager = FileManager.default
        if !fileManager.fileExists(atPath: path) {
            try fileManager.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            report.created.append("data folder \(path) (0700)")
        }
        for sub in ["keys", "tls"] {
            try fileManager.createDirectory(atPath: path + "/" + sub, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let store: any Store
        switch location {
        case .sqlite:
            let databaseExisted = fileManager.fileExists(atPath: databasePath)
            store = try SQLiteStore(path: databasePath)
            (databaseExisted ? \Report.reused : \Report.created).appendTo(&report, "database \(databasePath)")
        case .postgres:
            store = try openStore(location, nodeID: nodeID ?? StoreLocation.defaultNodeID(dataDirectory: path))
            report.reused.append("database \(location.description)")
        }

        switch try pki.ensure() {
        case .createdAuthorityAndServer:
            report.created.append("development CA \(pki.caCertificatePath)")
            report.created.append("server certificate for localhost, 127.0.0.1, ::1 \(pki.serverCertificatePath)")
        case .renewedServer:
            report.created.append("renewed server certificate \(pki.serverCertificatePath)")
        case .reused:
            report.reused.append("TLS material in \(pki.directory)")
        }

        let (identity, identityCreated) = try IdentityKey.loadOrCreate(path: identityKeyPath)
        (identityCreated ? \Report.created : \Report.reused).appendTo(&report, "gateway identity key \(identityKeyPath)")

        if !SecretFile.exists(masterKeyPath) {
            try SecretFile.write(Base64URL.encode(SecureRandom.bytes(count: 32)) + "\n", to: masterKeyPath)
            report.created.append("master key for secrets at rest \(masterKeyPath) (0600)")
        }

        if demo {
            report.demo = try provisionDemo(store: store, clock: clock, report: &report)
        }
        return (store, identity, report)
    }

    /// Opens the store at `location` (for PostgreSQL: connects and runs pending migrations).
    public func openStore(_ location: StoreLocation, nodeID: String) throws -> any Store {
        switch location {
        case .sqlite:
            return try SQLiteStore(path: databasePath)
        case .postgres(let url):
            return try PostgresStoreOpener.open(url: url, nodeID: nodeID)
        }
    }

    /// The demo account, its Ed25519 key (private key written once, 0600) and the house account
    /// that provides resting liquidity. Created on the first run only.
    private func provisionDemo(store: any Store, clock: any WallClock, report: inout Report) throws -> DemoCredentials? {
        if let existing = try store.setting("demo.key_id"), let account = try store.setting("demo.account_id") {
            report.reused.append("demo account \(account) and key \(existing)")
            return DemoCredentials(accountID: account, keyID: existing, privateKeyPath: demoPrivateKeyPath)
        }
        let now = clock.nowMs()
        let house = try store.account(named: DemoMarket.houseAccountName) ?? store.createAccount(name: DemoMarket.houseAccountName, nowMs: now)
        for (asset, amount) in DemoMarket.houseFunding {
            try store.deposit(accountID: house.id, asset: asset, amount: FixedDecimal(parsing: amount)!, nowMs: now)
        }
        let account = try store.account(named: "demo") ?? store.createAccount(name: "demo", nowMs: now)
        for (asset, amount) in DemoMarket.demoFunding {
            try store.deposit(accountID: account.id, asset: asset, amount: FixedDecimal(parsing: amount)!, nowMs: now)
        }
        try FileManager.default.createDirectory(atPath: demoDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let privateKey = Curve25519SigningKey.generate()
        try? FileManager.default.removeItem(atPath: demoPrivateKeyPath)
        try SecretFile.write(Ed25519PEM.encodePrivateKey(privateKey.seed), to: demoPrivateKeyPath)
        let key = try store.createKey(
            accountID: account.id, algorithm: .ed25519, publicKey: privateKey.publicKey, scopes: [.read, .trade, .cancel, .account],
            label: "demo", expiresMs: nil, nowMs: now)
        try store.setSetting("demo.account_id", account.id)
        try store.setSetting("demo.key_id", key.id)
        report.created.append("demo account \(account.id) funded with \(DemoMarket.demoFunding.map { "\($0.1) \($0.0)" }.joined(separator: ", "))")
        report.created.append("demo API key \(key.id) (ed25519, scopes read,trade,cancel,account)")
        report.created.append("demo private key \(demoPrivateKeyPath) (0600, written once, never stored by the gateway)")
        return DemoCredentials(accountID: account.id, keyID: key.id, privateKeyPath: demoPrivateKeyPath)
    }

    /// Writes demo.json (ids, URL, CA path; no secrets) for the walkthrough and scripts.
    public func writeDemoInfo(_ demo: DemoCredentials, url: String) throws {
        var w = JSONWriter()
        w.beginObject()
        w.key("url")
        w.string(url)
        w.key("ca_cert")
        w.string(pki.caCertificatePath)
        w.key("account_id")
        w.string(demo.accountID)
        w.key("key_id")
        w.string(demo.keyID)
        w.key("private_key")
        w.string(demo.privateKeyPath)
        w.endObject()
        try SecretFile.writePublic(w.string + "\n", to: demoInfoPath)
    }
}

private extension WritableKeyPath where Root == DataFolder.Report, Value == [String] {
    func appendTo(_ report: inout DataFolder.Report, _ line: String) { report[keyPath: self].append(line) }
}

/// A fresh Ed25519 key pair as raw bytes (the demo key is the only private key the gateway ever
/// generates for a client, and it never keeps it).
struct Curve25519SigningKey {
    let seed: [UInt8]
    let publicKey: [UInt8]

    static func generate() -> Curve25519SigningKey {
        let key = Curve25519.Signing.PrivateKey()
        return Curve25519SigningKey(seed: Array(key.rawRepresentation), publicKey: Array(key.publicKey.rawRepresentation))
    }
}
