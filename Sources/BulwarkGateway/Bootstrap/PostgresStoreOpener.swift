import BulwarkStore

/// Opens the PostgreSQL store (module BulwarkPostgres).
enum PostgresStoreOpener {
    static func open(url: String, nodeID: String) throws -> any Store {
        throw BootstrapError("PostgreSQL store: not wired yet")
    }
}
