import BulwarkStore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

extension PostgresStore {
    /// Signals committed changes, pushed by PostgreSQL (`NOTIFY bulwark_changes, '<seq>'`, sent
    /// in the transaction that appends to `change_feed`).
    ///
    /// Each call opens a dedicated connection (not from the pool) that runs `LISTEN
    /// bulwark_changes`. After every successful (re)connect the stream yields `.catchUp` first:
    /// notifications sent while the listener was down are gone, so the consumer re-reads
    /// `changes(afterSeq: cursor)` and misses nothing. A failed connection is retried with
    /// exponential backoff (100 ms doubling to 5 s); a heartbeat (`SELECT 1` every
    /// `heartbeat`) notices a silently dead connection. Ending the consumer's iteration closes
    /// the connection. Everything runs on the store's event loops: no thread blocks.
    public func changeNotifications() -> AsyncStream<ChangeSignal> {
        changeNotifications(heartbeat: .seconds(5))
    }

    public func changeNotifications(heartbeat: TimeAmount) -> AsyncStream<ChangeSignal> {
        let (stream, continuation) = AsyncStream.makeStream(of: ChangeSignal.self, bufferingPolicy: .bufferingNewest(1024))
        let listener = ChangeListener(pool: pool, continuation: continuation, heartbeat: heartbeat)
        continuation.onTermination = { _ in listener.stop() }
        listener.start()
        return stream
    }
}

/// The reconnecting LISTEN connection behind `changeNotifications()`.
final class ChangeListener: Sendable {
    private struct State {
        var stopped = false
        var connection: PostgresConnection?
        var failures = 0
        var heartbeat: RepeatedTask?
    }

    private let pool: ConnectionPool
    private let continuation: AsyncStream<ChangeSignal>.Continuation
    private let heartbeat: TimeAmount
    private let state = NIOLockedValueBox(State())

    init(pool: ConnectionPool, continuation: AsyncStream<ChangeSignal>.Continuation, heartbeat: TimeAmount) {
        self.pool = pool
        self.continuation = continuation
        self.heartbeat = heartbeat
    }

    func start() {
        guard !state.withLockedValue({ $0.stopped }) else { return }
        // Connecting and LISTEN must finish within the store's timeout; a server that accepts
        // and never answers is given up on and retried like a refused one.
        let attempt = NIOLockedValueBox(false)  // true once this attempt is settled
        let connecting = pool.connect()
        let timer = pool.group.next().scheduleTask(in: pool.timeout) {
            guard Self.settle(attempt) else { return }
            connecting.whenSuccess { ConnectionPool.close($0) }
            self.retry(after: StoreError.unavailable("no answer within the timeout"))
        }
        connecting.whenComplete { result in
            switch result {
            case .failure(let error):
                guard Self.settle(attempt) else { return }
                timer.cancel()
                self.retry(after: error)
            case .success(let connection):
                self.listen(on: connection, attempt: attempt, timer: timer)
            }
        }
    }

    /// Marks an attempt settled; false if it already was (the timer and the result race).
    private static func settle(_ attempt: NIOLockedValueBox<Bool>) -> Bool {
        attempt.withLockedValue { settled in
            defer { settled = true }
            return !settled
        }
    }

    func stop() {
        let (connection, task) = state.withLockedValue { state in
            state.stopped = true
            defer {
                state.connection = nil
                state.heartbeat = nil
            }
            return (state.connection, state.heartbeat)
        }
        task?.cancel()
        connection.map(ConnectionPool.close)
    }

    private func listen(on connection: PostgresConnection, attempt: NIOLockedValueBox<Bool>, timer: Scheduled<Void>) {
        let keep = state.withLockedValue { state -> Bool in
            guard !state.stopped else { return false }
            state.connection = connection
            return true
        }
        guard keep else {
            ConnectionPool.close(connection)
            return
        }
        let continuation = self.continuation
        connection.addListener(channel: PostgresStore.notificationChannel) { _, notification in
            if let seq = Int64(notification.payload) { continuation.yield(.changed(seq: seq)) } else { continuation.yield(.catchUp) }
        }
        // Runs after the LISTEN that addListener queued (one connection runs its commands in
        // order), so once it succeeds every later commit is notified here.
        connection.query(PostgresQuery(unsafeSQL: "LISTEN bulwark_changes"), logger: pool.logger).whenComplete { result in
            guard Self.settle(attempt) else { return }  // timed out: already closed and retrying
            timer.cancel()
            switch result {
            case .failure(let error):
                ConnectionPool.close(connection)
                self.retry(after: error)
            case .success:
                let task = connection.eventLoop.scheduleRepeatedAsyncTask(initialDelay: self.heartbeat, delay: self.heartbeat) { task in
                    self.ping(connection)
                }
                let stillRunning = self.state.withLockedValue { state -> Bool in
                    state.failures = 0
                    state.heartbeat = task
                    return !state.stopped
                }
                guard stillRunning else {
                    task.cancel()
                    return
                }
                self.continuation.yield(.catchUp)
                connection.closeFuture.whenComplete { _ in
                    task.cancel()
                    self.retry(after: nil)
                }
            }
        }
    }

    /// A heartbeat: a dead peer (no FIN, e.g. a partition) is noticed within `heartbeat` × 2.
    private func ping(_ connection: PostgresConnection) -> EventLoopFuture<Void> {
        let promise = connection.eventLoop.makePromise(of: Void.self)
        let timeout = connection.eventLoop.scheduleTask(in: heartbeat) { ConnectionPool.close(connection) }
        connection.query(PostgresQuery(unsafeSQL: "SELECT 1"), logger: pool.logger).whenComplete { result in
            timeout.cancel()
            if case .failure = result { ConnectionPool.close(connection) }
            promise.succeed(())
        }
        return promise.futureResult
    }

    private func retry(after error: (any Error)?) {
        let delay = state.withLockedValue { state -> TimeAmount? in
            guard !state.stopped else { return nil }
            state.connection = nil
            state.heartbeat = nil
            state.failures += 1
            // 100 ms, 200 ms, … 5 s.
            let ms = min(5000, 100 << min(state.failures - 1, 6))
            return .milliseconds(Int64(ms))
        }
        guard let delay else { return }
        guard !pool.isShutDown else {
            continuation.finish()
            return
        }
        if let error { pool.logger.warning("change listener reconnecting", metadata: ["error": "\(ConnectionPool.map(error, url: pool.url))"]) }
        pool.group.next().scheduleTask(in: delay) { self.start() }
    }
}
