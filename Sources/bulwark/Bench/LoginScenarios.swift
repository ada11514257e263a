import NIOCore

/// Login storm: `connections` workers, each repeating a full login on a fresh connection (TCP,
/// TLS handshake, HTTP upgrade, hello, Ed25519-signed `public/auth`) and closing it. Measures
/// logins/s and the latency from connect to the auth result.
enum LoginStormScenario {
    /// Accounts hold at most `session.max_per_account` live sessions (default 20): a few
    /// connections share each account.
    static let connectionsPerAccount = 16

    static func run(_ context: ScenarioContext, target: String) async -> BenchResult {
        let load = context.load
        var result = BenchResult(scenario: .logins, context: context, target: target, unit: "logins")
        let latency = LatencyRecorder()
        let logins = Counter()
        let identities: [BenchIdentity]
        do {
            identities = try (0..<(load.connections + connectionsPerAccount - 1) / connectionsPerAccount).map { try context.identity("login\($0)") }
        } catch {
            context.failures.record("provisioning: \(error)")
            result.finish(context)
            return result
        }
        let window = MeasurementWindow(warmupSeconds: load.warmupSeconds, durationSeconds: load.durationSeconds)
        let before = context.server?.sample()
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<load.connections {
                let identity = identities[worker / connectionsPerAccount]
                group.addTask {
                    var attempt: UInt64 = 0
                    while MonotonicClock.nanos() < window.endNanos {
                        attempt += 1
                        let started = MonotonicClock.nanos()
                        let promise = context.factory.group.next().makePromise(of: Void.self)
                        do {
                            let channel = try await context.factory.open(
                                path: "/ws/v1", subprotocol: "bulwark.v1", seed: UInt64(worker) << 32 | attempt,
                                makeDriver: { LoginDriver(identity: identity, done: promise) })
                            try await promise.futureResult.get()
                            if window.contains(started) {
                                latency.record(nanos: MonotonicClock.nanos() - started)
                                logins.add()
                            }
                            try? await channel.close()
                        } catch {
                            promise.fail(error)
                            context.failures.record("login: \(error)")
                            try? await Task.sleep(for: .milliseconds(10))
                        }
                    }
                }
            }
        }
        let after = context.server?.sample()
        result.measured(logins.total, over: window)
        result.latency = latency.summary
        result.serverCPU(from: before, to: after)
        result.finish(context)
        return result
    }
}

/// Idle connections: opens `connections` WebSocket connections (logged in when the run has a data
/// folder), lets the gateway settle, and reports how much its resident memory grew per open
/// connection; `operations` counts those whose login succeeded.
enum IdleScenario {
    static func run(_ context: ScenarioContext, target: String) async -> BenchResult {
        let load = context.load
        var result = BenchResult(scenario: .idle, context: context, target: target, unit: "connections")
        let ready = Counter()
        let identities: [BenchIdentity?]
        do {
            let accounts = (load.connections + LoginStormScenario.connectionsPerAccount - 1) / LoginStormScenario.connectionsPerAccount
            identities = context.provisioner == nil ? [nil] : try (0..<accounts).map { try context.identity("idle\($0)") }
        } catch {
            context.failures.record("provisioning: \(error)")
            result.finish(context)
            return result
        }
        // Let the gateway load the new accounts and settle before the baseline.
        try? await Task.sleep(for: .seconds(1.5))
        let before = context.server?.sample()
        let started = MonotonicClock.nanos()
        let channels = await LinkPool.open(load.connections, context: context, path: "/ws/v1", subprotocol: "bulwark.v1") { index in
            let identity = identities[min(index / LoginStormScenario.connectionsPerAccount, identities.count - 1)]
            return { IdleDriver(identity: identity, ready: ready, failures: context.failures) }
        }
        _ = await waitUntil(timeoutSeconds: 60) { ready.total == UInt64(channels.count) }
        let opened = MonotonicClock.nanos()
        try? await Task.sleep(for: .seconds(max(load.durationSeconds, 1)))
        let after = context.server?.sample()
        await LinkPool.close(channels)

        result.operations = ready.total
        result.operationsPerS = (Double(ready.total) / (Double(opened - started) / 1e9)).rounded()
        if let before, let after, !channels.isEmpty {
            result.serverRssBytesBefore = before.rssBytes
            result.serverRssBytesAfter = after.rssBytes
            // Every open connection holds memory, logged in or not (a refused login stays open
            // until the auth deadline), so the growth is divided by the connections open.
            result.openConnections = channels.count
            result.bytesPerConnection = (after.rssBytes - before.rssBytes) / channels.count
        } else if context.server == nil {
            context.failures.record("no --server-pid: memory per connection not measured")
        }
        result.finish(context)
        return result
    }
}

/// Opens a session (hello, then the login) and completes `done`.
final class LoginDriver: LinkDriver {
    private var opening: SessionOpening
    private let done: EventLoopPromise<Void>

    struct Refused: Error, CustomStringConvertible { let description: String }

    init(identity: BenchIdentity, done: EventLoopPromise<Void>) {
        self.opening = SessionOpening(identity: identity)
        self.done = done
    }

    func linkUp(_ link: LinkHandler) {}

    func received(_ payload: ByteBuffer, atNanos: UInt64, link: LinkHandler) {
        switch opening.consume(payload, link: link) {
        case .pending: break
        case .open: done.succeed()
        case .failed(let reason): done.fail(Refused(description: reason))
        }
    }

    func linkDown() { done.fail(Refused(description: "closed before the login finished")) }
}

/// Opens a session and then stays silent (pings are answered by the link).
final class IdleDriver: LinkDriver {
    private var opening: SessionOpening
    private let ready: Counter
    private let failures: FailureLog

    init(identity: BenchIdentity?, ready: Counter, failures: FailureLog) {
        self.opening = SessionOpening(identity: identity)
        self.ready = ready
        self.failures = failures
    }

    func linkUp(_ link: LinkHandler) {}

    func received(_ payload: ByteBuffer, atNanos: UInt64, link: LinkHandler) {
        guard !opening.isOpen else { return }
        switch opening.consume(payload, link: link) {
        case .pending: break
        case .open: ready.add()
        case .failed(let reason): failures.record(reason)
        }
    }

    func linkDown() {}
}
