import BulwarkPostgres
import BulwarkStore

/// Opens the PostgreSQL store (module BulwarkPostgres): connects and runs pending migrations.
enum PostgresStoreOpener {
    static func open(url: String, nodeID: String) throws -> any Store {
        try PostgresStore(url: url, nodeID: nodeID)
    }
}
