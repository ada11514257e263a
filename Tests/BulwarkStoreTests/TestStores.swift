import BulwarkCore
import BulwarkPostgres
import BulwarkStore
import Foundation
import Testing

/// The backends the contract tests run against: SQLite always; PostgreSQL when
/// `BULWARK_TEST_POSTGRES_URL` names a server (e.g. postgres://postgres@127.0.0.1:55432/postgres).
/// Each PostgreSQL test creates a database of its own (`pgstore_t_…`) and drops it afterwards.
enum Backend: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    static let postgresURL: String? = {
        let value = ProcessInfo.processInfo.environment["BULWARK_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
        if value == nil {
            FileHandle.standardError.write(
                Data("note: BULWARK_TEST_POSTGRES_URL is not set: the PostgreSQL contract and cluster tests are SKIPPED (SQLite only)\n".utf8))
        }
        return value
    }()

    /// What the parameterised contract tests run on.
    static var available: [Backend] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    func fixture() throws -> StoreFixture {
        switch self {
        case .sqlite: try StoreFixture.sqlite()
        case .postgres: try StoreFixture.postgres()
        }
    }
}

/// A fresh, empty store and how to throw it away.
final class StoreFixture: @unchecked Sendable {
    let store: any Store
    /// PostgreSQL: the URL of the fixture's own database, for a second "node".
    let url: String?
    let sqlitePath: String?
    private let cleanup: @Sendable () -> Void

    private init(store: any Store, url: String?, sqlitePath: String? = nil, cleanup: @escaping @Sendable () -> Void) {
        self.store = store
        self.url = url
        self.sqlitePath = sqlitePath
        self.cleanup = cleanup
    }

    /// Drops the database (or removes the folder). Call it (`defer`) when the test is done.
    func close() { cleanup() }

    /// Another store on the same data: a restart, or a second gateway node on PostgreSQL.
    func reopen(nodeID: String = "node-b") throws -> any Store {
        if let url { return try PostgresStore(url: url, nodeID: nodeID) }
        return try SQLiteStore(path: sqlitePath!)
    }

    static func sqlite() throws -> StoreFixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("db.sqlite").path
        let store = try SQLiteStore(path: path)
        return StoreFixture(store: store, url: nil, sqlitePath: path) { try? FileManager.default.removeItem(at: directory) }
    }

    static func postgres(nodeID: String = "node-a") throws -> StoreFixture {
        let database = try PostgresTestDatabase()
        let store = try PostgresStore(url: database.url, nodeID: nodeID)
        return StoreFixture(store: store, url: database.url) {
            store.shutdown()
            database.drop()
        }
    }
}

/// A database of its own on the test server, dropped by `drop()`.
final class PostgresTestDatabase: Sendable {
    let name: String
    let url: String
    private let adminURL: String

    init() throws {
        guard let base = Backend.postgresURL else { throw StoreError.invalid("BULWARK_TEST_POSTGRES_URL is not set") }
        adminURL = base
        name = "pgstore_t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try PostgresAdmin.execute(url: base, ["CREATE DATABASE \(PostgresAdmin.quoteIdentifier(name))"])
        url = try PostgresURL(base).with(database: name).urlString
    }

    func drop() {
        try? PostgresAdmin.execute(url: adminURL, ["DROP DATABASE IF EXISTS \(PostgresAdmin.quoteIdentifier(name)) WITH (FORCE)"])
    }
}
