import BulwarkCore
import BulwarkPostgres
import BulwarkStore
import Foundation
import NIOPosix
import Testing

/// Two `PostgresStore`s on one database are two gateway nodes: races between them, the audit
/// chain with two writers, LISTEN/NOTIFY between them, and recovery after the server drops
/// connections. Skipped (and reported as skipped) without BULWARK_TEST_POSTGRES_URL.
@Suite(
    .serialized,
    .enabled(if: Backend.postgresURL != nil, "set BULWARK_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:55432/postgres) to run"))
struct PostgresClusterTests {
    /// Two nodes on a fresh database; `body` gets both.
    func withTwoNodes(_ body: (PostgresStore, PostgresStore, PostgresTestDatabase) throws -> Void) throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let a = try PostgresStore(url: database.url, nodeID: "node-a", poolSize: 4)
        let b = try PostgresStore(url: database.url, nodeID: "node-b", poolSize: 4)
        defer {
            a.shutdown()
            b.shutdown()
        }
        try body(a, b, database)
    }

    /// Runs `work(i)` for i in 0..<count on real threads (not the cooperative pool), all at once.
    func race<T: Sendable>(_ count: Int, _ work: @escaping @Sendable (Int) throws -> T) -> [Result<T, any Error>] {
        let results = ResultsBox<T>(count: count)
        let start = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for i in 0..<count {
            group.enter()
            Thread.detachNewThread {
                start.wait()
                results.set(i, Result { try work(i) })
                group.leave()
            }
        }
        for _ in 0..<count { start.signal() }
        group.wait()
        return results.values
    }

    @Test func theContractSuiteRunsAgainstPostgres() {
        // Marker: when this suite is skipped, so is every `postgres` argument of the contract tests.
        #expect(Backend.available.contains(.postgres))
    }

    @Test func twoNodesRacingForOneTOTPCounterOrRefreshTokenOrRecoveryCodeHaveExactlyOneWinner() throws {
        try withTwoNodes { a, b, _ in
            let account = try a.createAccount(name: "race", nowMs: 1)
            try a.saveTOTP(
                TOTPRecord(accountID: account.id, secretSealed: "s", algorithm: "SHA1", digits: 6, periodSeconds: 30, createdMs: 1),
                recoveryCodeHashes: (0..<10).map { "code\($0)" })
            let client = try a.createOAuthClient(
                accountID: account.id, authMethod: .privateKeyJWT, jwks: "{}", secretHash: nil, scopes: [.read], label: "", nowMs: 1)
            for round in 0..<10 {
                let counter = Int64(1000 + round)
                let totp = race(4) { i in try (i % 2 == 0 ? a : b).acceptTOTPCounter(accountID: account.id, counter: counter, nowMs: 2) }
                #expect(totp.filter { (try? $0.get()) == true }.count == 1, "round \(round): \(totp)")

                try a.insertRefreshToken(
                    RefreshTokenRecord(
                        hash: "rt\(round)", familyID: "f", clientID: client.id, accountID: account.id, scopes: [.read], jkt: nil, createdMs: 1,
                        familyExpiresMs: 10_000))
                let refresh = race(4) { i in try (i % 2 == 0 ? a : b).markRefreshTokenUsed(hash: "rt\(round)", nowMs: 3) }
                #expect(refresh.filter { (try? $0.get()) == true }.count == 1, "round \(round): \(refresh)")

                let recovery = race(4) { i in try (i % 2 == 0 ? a : b).spendRecoveryCode(accountID: account.id, codeHash: "code\(round)", nowMs: 4) }
                #expect(recovery.filter { (try? $0.get()) == true }.count == 1, "round \(round): \(recovery)")
            }
            #expect(try b.unusedRecoveryCodeHashes(accountID: account.id).isEmpty)
        }
    }

    @Test func concurrentAuditAppendsFromTwoNodesFormOneVerifiableChain() throws {
        try withTwoNodes { a, b, _ in
            let writers = 6
            let batches = 15
            let results = race(writers) { i in
                for n in 0..<batches {
                    let entries = (0..<(1 + n % 3)).map { j in
                        AuditEntry(timeUs: Int64(n), event: "test.append", actor: "writer-\(i)", outcome: .info, details: ["n": "\(n).\(j)"])
                    }
                    _ = try (i % 2 == 0 ? a : b).appendAudit(entries)
                }
            }
            for result in results { try result.get() }
            let expected = (0..<writers).reduce(0) { sum, _ in sum + (0..<batches).reduce(0) { $0 + 1 + $1 % 3 } }
            var records: [AuditRecord] = []
            var cursor: Int64 = 0
            while true {
                let page = try b.auditRecords(afterSeq: cursor, limit: 100)
                guard let last = page.last else { break }
                records += page
                cursor = last.seq
            }
            #expect(records.count == expected)
            var verifier = AuditChainVerifier(identities: [])
            for record in records { _ = verifier.add(record) }
            #expect(verifier.result.problem == nil, "\(String(describing: verifier.result.problem))")
            #expect(verifier.result.records == expected)
            #expect(try a.auditTail().seq == Int64(expected))
        }
    }

    /// A follower reading `seq > cursor` while several nodes write must never skip a change: a
    /// seq that commits after a larger one would be behind its cursor for ever.
    @Test func aFollowerNeverSkipsAChangeWhileSeveralNodesWrite() throws {
        try withTwoNodes { a, b, _ in
            let account = try a.createAccount(name: "feed", nowMs: 1)
            let writing = NIOLockedFlag()
            let seen = ResultsBox<[Int64]>(count: 1)
            let follower = Thread {
                var cursor: Int64 = 0
                var seqs: [Int64] = []
                var done = false
                while !done {
                    done = !writing.value  // one more read after the writers finish
                    while let page = try? b.changes(afterSeq: cursor, limit: 100), let last = page.last {
                        seqs += page.map(\.seq)
                        cursor = last.seq
                    }
                }
                seen.set(0, .success(seqs))
            }
            writing.value = true
            follower.start()
            let results = race(6) { i in
                for n in 0..<15 {
                    try (i % 2 == 0 ? a : b).deposit(accountID: account.id, asset: "USD", amount: FixedDecimal(parsing: "\(n + 1)")!, nowMs: 2)
                }
            }
            writing.value = false
            for result in results { try result.get() }
            while !seen.isSet(0) { Thread.sleep(forTimeInterval: 0.01) }
            let seqs = try seen.values[0].get()
            #expect(seqs == Array(1...90), "the follower skipped \(Set(1...90).subtracting(seqs).sorted())")
        }
    }

    @Test func eachNodeEndsOnlyItsOwnOrphanedSessionsAndLiveCountsAreClusterWide() throws {
        try withTwoNodes { a, b, _ in
            func record(_ id: String) -> SessionRecord {
                SessionRecord(
                    id: id, accountID: "a_1", credentialID: "k", authMethod: "signature", scopes: "read", clientIP: "203.0.113.9",
                    network: "203.0.113.0/24", createdMs: 1, lastActivityMs: 1, idleTimeoutMs: 1000, absoluteDeadlineMs: 10_000, riskScore: 0,
                    riskLevel: "low", mfaVerifiedMs: nil)
            }
            try a.saveSession(record("s_a"))
            try b.saveSession(record("s_b"))
            #expect(try a.liveSessionCount(accountID: "a_1") == 2)
            #expect(try a.endOrphanedSessions(atMs: 5) == 1)
            #expect(try b.sessionRecord(id: "s_a")?.endReason == "shutdown")
            #expect(try b.sessionRecord(id: "s_b")?.isLive == true)
            #expect(try b.liveSessionCount(accountID: "a_1") == 1)
        }
    }

    @Test func rateLimitSpendingIsExchangedBetweenNodesAndAbsorbedOnce() throws {
        try withTwoNodes { a, b, _ in
            let orders = ClusterRateLedger.Key(bucket: "orders", subject: "a_1")
            let cancels = ClusterRateLedger.Key(bucket: "cancels", subject: "a_1")
            let ledgerB = ClusterRateLedger(startedMs: 0)
            // A spends; B's exchange returns A's counters and B's ledger turns them into spending.
            #expect(try a.exchangeRateCounters(node: "node-a", spending: [orders: 3, cancels: 1], windowMs: 10_000).isEmpty)
            let seen = try b.exchangeRateCounters(node: "node-b", spending: [orders: 2], windowMs: 10_000)
            #expect(Set(seen.map(\.node)) == ["node-a"])
            #expect(ledgerB.remoteSpending(seen) == [orders: 3, cancels: 1])
            // More spending on A is the growth only; B's own spending never comes back to B.
            _ = try a.exchangeRateCounters(node: "node-a", spending: [orders: 4], windowMs: 10_000)
            let again = try b.exchangeRateCounters(node: "node-b", spending: [:], windowMs: 10_000)
            #expect(ledgerB.remoteSpending(again) == [orders: 4])
            // And A sees B's.
            let atA = try a.exchangeRateCounters(node: "node-a", spending: [:], windowMs: 10_000)
            #expect(atA.map(\.total) == [2] && atA.map(\.node) == ["node-b"])
        }
    }

    @Test func theSessionsOfANodeThatStoppedBeatingAreEndedByTheOthers() throws {
        try withTwoNodes { a, b, database in
            func record(_ id: String) -> SessionRecord {
                SessionRecord(
                    id: id, accountID: "a_1", credentialID: "k", authMethod: "signature", scopes: "read", clientIP: "203.0.113.9",
                    network: "203.0.113.0/24", createdMs: 1, lastActivityMs: 1, idleTimeoutMs: 1000, absoluteDeadlineMs: 10_000, riskScore: 0,
                    riskLevel: "low", mfaVerifiedMs: nil)
            }
            try a.heartbeat(node: "node-a")
            try b.heartbeat(node: "node-b")
            try a.saveSession(record("s_a"))
            try b.saveSession(record("s_b"))
            // Both beat recently: nothing ends.
            #expect(try a.endSessionsOfSilentNodes(staleAfterMs: 60_000) == 0)
            // Node B's last beat is a minute old (it was killed): A ends B's sessions, not its own.
            try PostgresAdmin.execute(url: database.url, ["UPDATE cluster_nodes SET last_seen_ms = last_seen_ms - 60000 WHERE node_id = 'node-b'"])
            #expect(try a.endSessionsOfSilentNodes(staleAfterMs: 15_000) == 1)
            #expect(try a.sessionRecord(id: "s_b")?.endReason == "node_lost")
            #expect(try a.sessionRecord(id: "s_a")?.isLive == true)
            #expect(try a.liveSessionCount(accountID: "a_1") == 1)
        }
    }

    @Test func aSessionMovesToAnotherNodeOnceAndOnlyItsNewHolderUpdatesOrEndsIt() throws {
        try withTwoNodes { a, b, _ in
            try a.saveSession(
                SessionRecord(
                    id: "s_m", accountID: "a_1", credentialID: "k", authMethod: "signature", scopes: "read,trade", clientIP: "203.0.113.9",
                    network: "203.0.113.0/24", createdMs: 1, lastActivityMs: 1, idleTimeoutMs: 1000, absoluteDeadlineMs: 10_000, riskScore: 0,
                    riskLevel: "low", mfaVerifiedMs: nil))
            try a.saveSessionSubscriptions(id: "s_m", channels: ["orders", "book.BTC-USD"])
            let cursor = try b.latestChangeSeq()
            #expect(try b.sessionRecord(id: "s_m")?.nodeID == "node-a")
            #expect(try b.sessionRecord(id: "s_m")?.subscriptions == ["book.BTC-USD", "orders"])
            // Two takeovers that both read "node-a": exactly one wins.
            let outcomes = race(2) { _ in try b.moveSession(id: "s_m", fromNode: "node-a", toNode: "node-b", nowMs: 5) }
            #expect(outcomes.compactMap { try? $0.get() }.sorted { !$0 && $1 } == [false, true])
            #expect(try a.sessionRecord(id: "s_m")?.nodeID == "node-b")
            // The change names the session and its new holder.
            let moves = try a.changes(afterSeq: cursor).filter { $0.kind == .sessionMoved }
            #expect(moves.map(\.subject) == ["s_m node-b"])
            #expect(SessionMove(subject: moves[0].subject) == SessionMove(sessionID: "s_m", toNode: "node-b"))
            // The old holder's stale copy can neither update nor end the record any more.
            var stale = try #require(try a.sessionRecord(id: "s_m"))
            stale.lastActivityMs = 999
            try a.saveSession(stale)
            try a.endSession(id: "s_m", reason: "expired", atMs: 7)
            let now = try #require(try b.sessionRecord(id: "s_m"))
            #expect(now.isLive && now.lastActivityMs == 1)
            // The new holder can.
            try b.endSession(id: "s_m", reason: "logout", atMs: 8)
            #expect(try a.sessionRecord(id: "s_m")?.endReason == "logout")
            // An ended session does not move.
            #expect(try a.moveSession(id: "s_m", fromNode: "node-b", toNode: "node-a", nowMs: 9) == false)
        }
    }

    @Test func nodesStartingTogetherMigrateOnce() throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let results = race(3) { i in
            let store = try PostgresStore(url: database.url, nodeID: "n\(i)")
            store.shutdown()
        }
        for result in results { try result.get() }
        let store = try PostgresStore(url: database.url, nodeID: "check")
        defer { store.shutdown() }
        #expect(store.ping())
        _ = try store.createAccount(name: "after", nowMs: 1)
    }

    @Test func aChangeOnOneNodeIsSignalledOnTheOther() async throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let a = try PostgresStore(url: database.url, nodeID: "node-a")
        let b = try PostgresStore(url: database.url, nodeID: "node-b")
        defer {
            a.shutdown()
            b.shutdown()
        }
        let signals = SignalCollector(b.changeNotifications())
        #expect(await signals.next(within: 5) == .catchUp)
        let account = try a.createAccount(name: "notify", nowMs: 1)
        let key = try a.createKey(accountID: account.id, algorithm: .ed25519, publicKey: [1], scopes: [.read], label: "", expiresMs: nil, nowMs: 1)
        let started = Date()
        try a.revokeKey(id: key.id, nowMs: 2)
        let signal = await signals.next(within: 5)
        #expect(Date().timeIntervalSince(started) < 1, "a revocation reaches the other node within 1 s")
        let seq = try a.latestChangeSeq()
        #expect(signal == .changed(seq: seq))
        #expect(try b.changes(afterSeq: seq - 1).map(\.subject) == [key.id])
        signals.cancel()
    }

    @Test func theListenerReconnectsAfterItsBackendIsTerminatedAndAsksForACatchUp() async throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let a = try PostgresStore(url: database.url, nodeID: "node-a")
        let b = try PostgresStore(url: database.url, nodeID: "node-b")
        defer {
            a.shutdown()
            b.shutdown()
        }
        let signals = SignalCollector(b.changeNotifications(heartbeat: .seconds(1)))
        #expect(await signals.next(within: 5) == .catchUp)
        // Kill every other connection to the database: the listener's and both pools'.
        try PostgresAdmin.execute(url: database.url, [
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ])
        #expect(await signals.next(within: 10) == .catchUp, "a reconnect is followed by a catch-up signal")
        // A change committed while the listener was down would be found by the catch-up read;
        // one committed now is signalled. The pools heal on their next call.
        var revoked: Int64 = 0
        for attempt in 0..<3 {
            do {
                try a.setSetting("x", "y")
                break
            } catch StoreError.unavailable(_) where attempt < 2 {
                // The first call on a connection the server closed may fail; the next opens a new one.
            }
        }
        let account = try a.createAccount(name: "after-reconnect", nowMs: 1)
        try a.setAccountStatus(id: account.id, .disabled, nowMs: 2)
        revoked = try a.latestChangeSeq()
        var seen: ChangeSignal?
        repeat { seen = await signals.next(within: 5) } while seen == .catchUp
        #expect(seen == .changed(seq: revoked))
        signals.cancel()
    }

    @Test func aCallWaitingOnALockEndsAtItsDeadlineAndTheStoreRecovers() throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let store = try PostgresStore(url: database.url, nodeID: "n", poolSize: 1, timeout: .seconds(1))
        defer { store.shutdown() }
        _ = try store.appendAudit([AuditEntry(timeUs: 1, event: "before", actor: "t", outcome: .info)])
        // Another client holds the audit chain's advisory lock (PostgresStore.Locks.audit) for 2.5 s.
        let holder = Thread {
            try? PostgresAdmin.execute(
                url: database.url, ["BEGIN", "SELECT pg_advisory_xact_lock(\(0x4255_4C57_0000_0003 as Int64))", "SELECT pg_sleep(2.5)", "COMMIT"])
        }
        holder.start()
        Thread.sleep(forTimeInterval: 0.4)
        let started = Date()
        #expect {
            _ = try store.appendAudit([AuditEntry(timeUs: 2, event: "blocked", actor: "t", outcome: .info)])
        } throws: { error in
            guard case StoreError.unavailable = error else { return false }
            return true
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed >= 0.8 && elapsed < 2, "took \(elapsed) s")
        // The lock goes away; the same store (one pooled connection) works again.
        Thread.sleep(forTimeInterval: 2.5)
        #expect(try store.appendAudit([AuditEntry(timeUs: 3, event: "after", actor: "t", outcome: .info)]).first?.seq == 2)
        #expect(store.ping())
    }

    /// The gateway's /readyz handler runs on an event loop: ping answers from the last probe
    /// there, without blocking, and probes in the background.
    @Test func pingOnAnEventLoopDoesNotBlock() throws {
        try withTwoNodes { a, _, _ in
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            defer { try? group.syncShutdownGracefully() }
            let started = Date()
            let answers = try (0..<3).map { _ in try group.next().submit { a.ping() }.wait() }
            #expect(answers == [true, true, true])
            #expect(Date().timeIntervalSince(started) < 0.5)
            #expect(a.ping())  // from here (not an event loop): a real round trip
            // Other calls from a foreign event loop block it for the round trip, and work.
            try a.setSetting("from-loop", "yes")
            #expect(try group.next().submit { try a.setting("from-loop") }.wait() == "yes")
        }
    }

    @Test func aStatementThatRunsTooLongIsCutAtTheDeadline() {
        guard let base = Backend.postgresURL else { return }
        let started = Date()
        #expect {
            try PostgresAdmin.execute(url: base, ["SELECT pg_sleep(5)"], timeout: .milliseconds(500))
        } throws: { error in
            guard case StoreError.unavailable = error else { return false }
            return true
        }
        #expect(Date().timeIntervalSince(started) < 2)
    }

    @Test func sslmodeRequireAgainstAServerWithoutTLSIsUnavailable() throws {
        guard let base = Backend.postgresURL else { return }
        var url = try PostgresURL(base)
        url.sslMode = .require
        #expect(throws: StoreError.self) { _ = try PostgresStore(url: url.urlString, nodeID: "n", timeout: .seconds(3)) }
    }

    @Test func callsFailWithUnavailableAfterShutdown() throws {
        try withTwoNodes { a, _, _ in
            a.shutdown()
            #expect(!a.ping())
            #expect(throws: StoreError.unavailable("the PostgreSQL store is shut down")) { try a.setting("x") }
        }
    }
}

/// Collects a stream's signals on a task of its own; `next(within:)` waits for the next one.
final class SignalCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var buffered: [ChangeSignal] = []
    private var task: Task<Void, Never>?

    init(_ stream: AsyncStream<ChangeSignal>) {
        task = Task { [weak self] in
            for await signal in stream {
                guard let self else { return }
                self.lock.withLock { self.buffered.append(signal) }
            }
        }
    }

    func next(within seconds: Double) async -> ChangeSignal? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let first = lock.withLock { buffered.isEmpty ? nil : buffered.removeFirst() }
            if let first { return first }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    func cancel() { task?.cancel() }
}

final class ResultsBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Result<T, any Error>?]

    init(count: Int) { storage = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Result<T, any Error>) {
        lock.lock()
        storage[index] = value
        lock.unlock()
    }

    func isSet(_ index: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return storage[index] != nil
    }

    var values: [Result<T, any Error>] {
        lock.lock()
        defer { lock.unlock() }
        return storage.map { $0! }
    }
}

final class NIOLockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    var value: Bool {
        get { lock.withLock { flag } }
        set { lock.withLock { flag = newValue } }
    }
}
