import BulwarkStore
import Foundation
import NIOCore
import PostgresNIO

/// A bound parameter (`$1`, `$2`, …). Integers are always `BIGINT` (the schema's `{int}`).
enum PGValue: Sendable {
    case text(String?)
    case int(Int64?)
    case double(Double?)
    case bytes(Data?)

    static func int(_ value: Int) -> PGValue { .int(Int64(value)) }
}

/// One checked-out connection for one store call (one statement, or one transaction), with the
/// call's deadline. A statement that fails without a server answer marks it broken: the pool
/// closes it instead of reusing it.
final class PGConnection {
    let connection: PostgresConnection
    let pool: ConnectionPool
    let deadline: NIODeadline
    var broken = false

    init(connection: PostgresConnection, pool: ConnectionPool, deadline: NIODeadline) {
        self.connection = connection
        self.pool = pool
        self.deadline = deadline
    }

    /// Runs one statement and returns its rows and the affected-row count.
    @discardableResult
    func run(_ sql: String, _ values: [PGValue] = []) throws -> (rows: [PostgresRandomAccessRow], count: Int) {
        var binds = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .text(let text): binds.append(text)
            case .int(let int): binds.append(int)
            case .double(let double): binds.append(double)
            case .bytes(let data): if let data { binds.append(ByteBuffer(bytes: data)) } else { binds.appendNull() }
            }
        }
        let connection = self.connection
        let future = connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: pool.logger)
        do {
            let result = try pool.wait(future, deadline: deadline, what: Self.verb(sql), onTimeout: { ConnectionPool.close(connection) })
            return (result.rows.map { $0.makeRandomAccess() }, result.metadata.rows ?? 0)
        } catch let error as StoreError {
            // A server error (constraint, deadlock) leaves the connection usable; anything else
            // (timeout, reset, closed) does not.
            if !error.isServerError || connection.isClosed { broken = true }
            throw error
        }
    }

    func rows(_ sql: String, _ values: [PGValue] = []) throws -> [PostgresRandomAccessRow] { try run(sql, values).rows }
    func row(_ sql: String, _ values: [PGValue] = []) throws -> PostgresRandomAccessRow? { try run(sql, values).rows.first }
    @discardableResult
    func execute(_ sql: String, _ values: [PGValue] = []) throws -> Int { try run(sql, values).count }

    private static func verb(_ sql: String) -> String {
        String(sql.drop(while: { $0 == " " || $0 == "\n" }).prefix(while: { $0 != " " && $0 != "\n" }))
    }
}

extension StoreError {
    /// Errors the server answered with (the connection is fine).
    var isServerError: Bool {
        if case .unavailable(let text) = self { return text.hasPrefix("PostgreSQL error ") }
        return true
    }
}

extension PostgresRandomAccessRow {
    func get<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try self[column].decode(T.self)
    }

    func text(_ column: String) throws -> String { try get(column) }
    func optionalText(_ column: String) throws -> String? { try get(column) }
    func int64(_ column: String) throws -> Int64 { try get(column) }
    func optionalInt64(_ column: String) throws -> Int64? { try get(column) }
    func int(_ column: String) throws -> Int { Int(try int64(column)) }
    func double(_ column: String) throws -> Double { try get(column) }
    func bytes(_ column: String) throws -> [UInt8]? {
        guard let buffer = try get(column, as: ByteBuffer?.self) else { return nil }
        return Array(buffer.readableBytesView)
    }
}
