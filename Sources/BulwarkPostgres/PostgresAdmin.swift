import BulwarkStore
import Logging
import NIOCore

/// Administration outside the store: statements that must not run in a transaction
/// (`CREATE DATABASE`, `DROP DATABASE`), for tests and set-up tooling.
public enum PostgresAdmin {
    /// Runs each statement, in order, in autocommit mode on one fresh connection to `url`.
    public static func execute(url: String, _ statements: [String], timeout: TimeAmount = .seconds(10)) throws {
        let pool = try ConnectionPool(
            url: try PostgresURL(url), size: 1, timeout: timeout, group: nil, logger: Logger(label: "bulwark.postgres.admin"))
        defer { pool.shutdown() }
        let deadline = NIODeadline.now() + timeout
        let connection = PGConnection(connection: try pool.checkout(deadline: deadline), pool: pool, deadline: deadline)
        defer { pool.checkin(connection.connection, broken: true) }
        for statement in statements { try connection.execute(statement) }
    }

    /// Quotes an identifier (a database name) for SQL.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
