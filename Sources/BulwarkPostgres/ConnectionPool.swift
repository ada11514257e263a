import BulwarkStore
import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO

/// The synchronous bridge to PostgresNIO, and a small connection pool.
///
/// `Store` is synchronous; its callers are actors and tasks on Swift's cooperative pool (two
/// threads on a two-core machine). Bridging with `Task {}` plus a semaphore would deadlock there:
/// the blocked cooperative thread waits for a task that needs a cooperative thread to run. So
/// PostgresNIO runs on an event-loop group of its own (`MultiThreadedEventLoopGroup`, 1–2
/// threads, never the cooperative pool), every call is an `EventLoopFuture`, and the caller
/// blocks on that future's result with a deadline. The event loops never wait on the caller, so
/// no cycle is possible. Callers must not be event-loop threads of this group (a precondition
/// checks it): a blocked event loop could not complete its own futures.
final class ConnectionPool: @unchecked Sendable {
    let url: PostgresURL
    let group: any EventLoopGroup
    let timeout: TimeAmount
    private let ownsGroup: Bool
    private let configuration: PostgresConnection.Configuration
    let logger: Logger
    private let capacity: Int

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var idle: [PostgresConnection] = []
    private var open = 0
    private var closed = false
    private let nextID = NIOLockedValueBox(0)
    /// The group's event loops: a call from one of them would wait for itself.
    private let loops: Set<ObjectIdentifier>

    /// The bridge's rule, checked on every call: the caller is not an event loop of the store's
    /// own group, which would wait for a future only it can complete (a deadlock). A call from
    /// another group's event loop works but stalls that loop's sockets for the round trip (the
    /// gateway's admin HTTP handler does this today, as it did with SQLite; moving those calls
    /// off the loop is the gateway's business).
    func preconditionCallerMayBlock() {
        guard let current = MultiThreadedEventLoopGroup.currentEventLoop else { return }
        precondition(!loops.contains(ObjectIdentifier(current)), "PostgresStore called from its own event loop: this would deadlock")
    }

    init(url: PostgresURL, size: Int, timeout: TimeAmount, group: (any EventLoopGroup)?, logger: Logger) throws {
        self.url = url
        self.capacity = max(1, size)
        self.timeout = timeout
        self.logger = logger
        self.configuration = try url.configuration(connectTimeout: timeout, statementTimeout: timeout)
        if let group {
            self.group = group
            ownsGroup = false
        } else {
            self.group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
            ownsGroup = true
        }
        loops = Set(self.group.makeIterator().map { ObjectIdentifier($0) })
    }

    /// Closes every connection and, if the pool made it, its event-loop group. Idempotent.
    func shutdown() {
        condition.lock()
        let connections = idle
        idle = []
        let wasClosed = closed
        closed = true
        condition.broadcast()
        condition.unlock()
        guard !wasClosed else { return }
        for connection in connections { Self.close(connection) }
        if ownsGroup { group.shutdownGracefully { _ in } }
    }

    var isShutDown: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closed
    }

    // MARK: The bridge

    /// Blocks the calling thread until `future` completes or `deadline` passes. On a timeout
    /// `onTimeout` runs (the caller closes the connection the statement runs on, so the server
    /// abandons it) and `StoreError.unavailable` is thrown.
    ///
    /// A semaphore signalled from the future's callback, not NIO's `wait()`: `wait()` traps on
    /// any event-loop thread, and the gateway's admin HTTP handler calls the store from its own
    /// event loop (as it did with SQLite). That is safe here because the future completes on the
    /// store's group, never on the caller's loop (`preconditionCallerMayBlock`).
    func wait<T: Sendable>(
        _ future: EventLoopFuture<T>, deadline: NIODeadline, what: @autoclosure () -> String, onTimeout: (@Sendable () -> Void)? = nil
    ) throws -> T {
        let semaphore = DispatchSemaphore(value: 0)
        let outcome = NIOLockedValueBox<Result<T, any Error>?>(nil)
        future.whenComplete { result in
            outcome.withLockedValue { $0 = result }
            semaphore.signal()
        }
        let remaining = max(0, (deadline - .now()).nanoseconds)
        if semaphore.wait(timeout: .now() + .nanoseconds(Int(remaining))) == .timedOut {
            onTimeout?()
            throw StoreError.unavailable("PostgreSQL at \(url.host):\(url.port) did not answer within \(Self.seconds(timeout)) s (\(what()))")
        }
        switch outcome.withLockedValue({ $0 })! {
        case .success(let value): return value
        case .failure(let error): throw Self.map(error, url: url)
        }
    }

    static func seconds(_ amount: TimeAmount) -> String {
        let ms = amount.nanoseconds / 1_000_000
        return ms % 1000 == 0 ? String(ms / 1000) : String(format: "%.1f", Double(ms) / 1000)
    }

    /// Any failure of PostgresNIO as a `StoreError` the gateway can tell apart: unique-key
    /// violations are `.conflict`, everything else (refused, reset, timed out, server errors) is
    /// `.unavailable` with the server's SQLSTATE and message, never the password.
    static func map(_ error: any Error, url: PostgresURL) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? PSQLError {
            if let info = error.serverInfo {
                let state = info[.sqlState] ?? "?"
                let message = info[.message] ?? "server error"
                if state == "23505" { return .conflict(message) }
                return .unavailable("PostgreSQL error \(state): \(message)")
            }
            let underlying = error.underlying.map { " (\($0))" } ?? ""
            return .unavailable("PostgreSQL at \(url.host):\(url.port): \(error.code)\(underlying)")
        }
        return .unavailable("PostgreSQL at \(url.host):\(url.port): \(error)")
    }

    // MARK: Connections

    /// Closes without waiting. The closure keeps the connection alive until it is closed
    /// (PostgresNIO asserts that a connection is closed before it is released).
    static func close(_ connection: PostgresConnection) {
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    /// Opens one connection outside the pool (the LISTEN connection, administration).
    func connect() -> EventLoopFuture<PostgresConnection> {
        let id = nextID.withLockedValue { value in
            value += 1
            return value
        }
        return PostgresConnection.connect(on: group.next(), configuration: configuration, id: id, logger: logger)
    }

    /// A free connection, opening one if fewer than `capacity` are open, else waiting for one
    /// until `deadline`. A connection found closed (server restart, network) is dropped and
    /// replaced here, so the pool heals on the next call after PostgreSQL comes back.
    func checkout(deadline: NIODeadline) throws -> PostgresConnection {
        condition.lock()
        while true {
            if closed {
                condition.unlock()
                throw StoreError.unavailable("the PostgreSQL store is shut down")
            }
            if let connection = idle.popLast() {
                if connection.isClosed {
                    open -= 1
                    continue
                }
                condition.unlock()
                return connection
            }
            if open < capacity {
                open += 1
                condition.unlock()
                let connecting = connect()
                do {
                    // Connecting (TCP, TLS, authentication) never takes longer than one call's
                    // timeout, even inside a longer call (the migration).
                    return try wait(connecting, deadline: min(deadline, .now() + timeout), what: "connect")
                } catch {
                    // Timed out: a connection that still arrives later is closed, not leaked.
                    connecting.whenSuccess { Self.close($0) }
                    condition.lock()
                    open -= 1
                    condition.signal()
                    condition.unlock()
                    throw error
                }
            }
            let remaining = deadline - .now()
            guard remaining > .zero,
                condition.wait(until: Date(timeIntervalSinceNow: Double(remaining.nanoseconds) / 1e9)) || deadline > .now()
            else {
                condition.unlock()
                throw StoreError.unavailable("no free PostgreSQL connection within \(Self.seconds(timeout)) s (all \(capacity) busy)")
            }
        }
    }

    /// Returns a connection; a broken one (timeout, connection error, failed rollback) is closed
    /// instead and its slot freed for a fresh one.
    func checkin(_ connection: PostgresConnection, broken: Bool) {
        condition.lock()
        if broken || closed || connection.isClosed {
            open -= 1
            condition.signal()
            condition.unlock()
            Self.close(connection)
            return
        }
        idle.append(connection)
        condition.signal()
        condition.unlock()
    }
}
