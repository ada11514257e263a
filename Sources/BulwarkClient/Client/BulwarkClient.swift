import BulwarkAuth
import BulwarkCore
import Crypto
import NIOCore
import NIOSSL
import NIOWebSocket

/// A client of the Bulwark gateway: one object per logical session, which survives reconnects.
///
/// What it does for you (the same as the Python SDK, clients/python):
/// - TLS with your CA (or `ws://` on loopback), the `bulwark.v1` subprotocol, strict JSON;
/// - signature logins bound to the connection's challenge (Ed25519, P-256, ML-DSA-65, HMAC), or a
///   bearer token with a DPoP proof (`OAuthClient`);
/// - optional session keys (`kx`) and sealed frames (MAC or AEAD) for every private request;
/// - renewal in place when the gateway sends `session.expiring`;
/// - reconnects with jittered exponential backoff that resume the session: subscriptions come back
///   and private events missed in between are replayed, each delivered once (by `private_seq`);
/// - subscriptions with gap detection, and order books rebuilt from snapshot + deltas;
/// - order helpers that generate `client_order_id`s (a retried order never executes twice);
/// - rate-limit awareness: a `rate_limited` answer is waited out (`retry_after_ms`) and retried;
/// - clock-skew measurement with `public/time`, applied to login timestamps.
///
/// Everything the gateway pushes comes out of `events`, an `AsyncStream` with one consumer.
public actor BulwarkClient {
    public let configuration: ClientConfiguration
    public nonisolated let events: AsyncStream<ClientEvent>
    private let eventSink: AsyncStream<ClientEvent>.Continuation

    private let tlsContext: NIOSSLContext?
    private var transport: WebSocketTransport?
    /// Bumped per connection, so the reader of an old one cannot touch the new one.
    private var generation = 0
    private var challenge: String?
    public private(set) var hello: JSONObject?
    public private(set) var session: LoginResult?
    public private(set) var clockSkew = ClockSkew(offsetMs: 0)

    private var pending: [Int64: CheckedContinuation<JSONObject, any Error>] = [:]
    private var timers: [Int64: Task<Void, Never>] = [:]
    private var nextRequestID: Int64 = 0
    private var sealed: SealedChannel?
    private var sealedMode = SealedFrameMode.aead
    private var login: LoginMethod?
    private var loginInFlight = false
    private var loginWaiters: [CheckedContinuation<Void, Never>] = []
    /// Sealed requests not answered yet, and who waits for them to drain (a re-login with `kx`).
    private var sealedInFlight: Set<Int64> = []
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []

    private var tracker = SequenceTracker()
    public private(set) var books: [String: OrderBook] = [:]
    public private(set) var subscriptions: Set<String> = []
    private var closing = false
    private var endedReason: String?
    private var resuming = false
    /// Tests: hold reconnect attempts (to make things happen while the client is away).
    var reconnectsHeld = false
    /// Successful resumes so far.
    public private(set) var reconnects = 0

    private static let parser = StrictJSONParser(
        limits: JSONParserLimits(maxDepth: 16, maxObjectMembers: 256, maxArrayElements: 1 << 16, maxStringBytes: 1 << 16, maxInputBytes: 1 << 22))

    /// How the session was opened, kept so that renewal and resume can sign again by themselves.
    enum LoginMethod: Sendable {
        case signature(SignatureLoginRequest, any RequestSigner, SessionKeyOptions?)
        case bearer(accessToken: String, scopes: [String]?, dpop: (@Sendable (_ challenge: String) throws -> String)?)
    }

    public init(_ configuration: ClientConfiguration) throws {
        self.configuration = configuration
        self.tlsContext = try configuration.endpoint.makeTLSContext()
        (events, eventSink) = AsyncStream.makeStream(of: ClientEvent.self)
    }

    // MARK: - Connection

    /// Opens the socket, reads `hello` and (unless turned off) measures the clock offset.
    @discardableResult
    public func connect() async throws -> JSONObject {
        closing = false
        // A new generation first, so that the old connection's end is not taken for a drop.
        generation += 1
        let generation = self.generation
        transport?.abort()
        transport = nil
        let transport = try await WebSocketTransport.connect(
            to: configuration.endpoint, tls: tlsContext, group: configuration.eventLoopGroup, maxMessageBytes: configuration.maxMessageBytes)
        guard generation == self.generation else {
            transport.abort()
            throw ClientError.notConnected
        }
        self.transport = transport
        self.challenge = nil
        self.hello = nil
        sealed = nil
        Task {
            for await event in transport.events {
                await self.receive(event, generation: generation)
            }
        }
        // The reader cannot run before this suspends, so the hello cannot be missed.
        let timeout = configuration.requestTimeout
        let params: JSONObject = try await withCheckedThrowingContinuation { continuation in
            helloWaiter = continuation
            Task { [weak self] in
                try? await Task.sleep(for: timeout)
                await self?.failHello(ClientError.timeout(method: "hello"), generation: generation)
            }
        }
        if configuration.measureClockOnConnect { try await measureClock() }
        return params
    }

    private var helloWaiter: CheckedContinuation<JSONObject, any Error>?

    private func failHello(_ error: any Error, generation: Int? = nil) {
        if let generation, generation != self.generation { return }
        helloWaiter?.resume(throwing: error)
        helloWaiter = nil
    }

    /// `server - local` from one `public/time` round trip (half the round trip is the uncertainty).
    @discardableResult
    public func measureClock() async throws -> ClockSkew {
        let sent = configuration.clock.nowMs()
        let result = try await call("public/time", sealed: false)
        let received = configuration.clock.nowMs()
        guard let server = result["server_time_ms"]?.int64Value else { throw ClientError.protocolViolation("public/time without server_time_ms") }
        clockSkew = ClockSkew(sentMs: sent, serverMs: server, receivedMs: received)
        return clockSkew
    }

    /// The gateway's time as we best know it: our clock corrected by the measured offset.
    public func serverNowMs() -> Int64 { configuration.clock.nowMs() + clockSkew.offsetMs }

    /// Closes the connection (close handshake) and stops reconnecting; `events` ends once the
    /// connection is gone.
    public func close() async {
        closing = true
        if let transport {
            await transport.close()
        } else {
            eventSink.finish()
        }
    }

    /// Drops the TCP connection without a close frame, as a network failure would (tests, drills).
    public func simulateNetworkFailure() {
        transport?.abort()
    }

    // MARK: - Logins

    /// The signature grant. With `sessionKeys`, keys are agreed (`kx`) and every private request is
    /// sealed from then on. Remembered: renewal and resume sign again by themselves.
    @discardableResult
    public func login(
        keyID: String, signer: any RequestSigner, scopes: [String]? = nil, sessionKeys: SessionKeyOptions? = nil,
        cancelOnDisconnect: (scope: String, graceMs: Int64)? = nil
    ) async throws -> LoginResult {
        var request = SignatureLoginRequest(keyID: keyID, scopes: scopes)
        request.cancelOnDisconnect = cancelOnDisconnect
        login = .signature(request, signer, sessionKeys)
        return try await performLogin(resume: nil)
    }

    /// The bearer grant (an access token from `OAuthClient`); `dpop(challenge)` returns a DPoP proof
    /// bound to the connection's challenge for a DPoP-bound token. The grant takes no `kx` or `resume`.
    @discardableResult
    public func login(accessToken: String, scopes: [String]? = nil, dpop: (@Sendable (_ challenge: String) throws -> String)? = nil)
        async throws -> LoginResult
    {
        login = .bearer(accessToken: accessToken, scopes: scopes, dpop: dpop)
        return try await performLogin(resume: nil)
    }

    /// Logs in again on this connection with the newest challenge: the same session, timers restarted.
    @discardableResult
    public func renew() async throws -> LoginResult {
        try await performLogin(resume: nil)
    }

    private func performLogin(resume: (sessionID: String, lastPrivateSeq: Int64)?) async throws -> LoginResult {
        // One login at a time (a renewal and a resume or a caller's login could meet): each
        // consumes the challenge the next one signs.
        while loginInFlight { await withCheckedContinuation { loginWaiters.append($0) } }
        guard let login else { throw ClientError.notLoggedIn }
        loginInFlight = true
        defer {
            loginInFlight = false
            let waiters = loginWaiters
            loginWaiters = []
            for waiter in waiters { waiter.resume() }
        }
        // New keys apply from the frame after the login's answer: answers to sealed requests still
        // under way would come under the old ones, so they are let through first.
        while !sealedInFlight.isEmpty { await withCheckedContinuation { drainWaiters.append($0) } }
        guard let challenge else { throw ClientError.notConnected }
        var keyExchange: KeyExchangeClient?
        let params: JSONObject
        switch login {
        case .signature(var request, let signer, let keys):
            request.resume = resume
            keyExchange = try keys.map { try KeyExchangeClient(hybrid: $0.hybrid) }
            params = try request.params(signer: signer, challenge: challenge, timestampMs: serverNowMs(), keyExchange: keyExchange?.offer)
        case .bearer(let token, let scopes, let dpop):
            var members: [(key: String, value: JSONValue)] = [("grant_type", .string("bearer")), ("access_token", .string(token))]
            if let dpop { members.append(("dpop", .string(try dpop(challenge)))) }
            if let scopes { members.append(("scopes", .array(scopes.map { .string($0) }))) }
            params = JSONObject(members)
        }
        let raw = try await call("public/auth", params, sealed: false, retryRateLimits: false)
        let result = LoginResult(raw: raw)
        if let next = result.challenge { self.challenge = next }
        if case .signature(_, _, let options?) = login, let keyExchange {
            guard let answer = raw["kx"]?.objectValue, let serverX25519 = answer["x25519"]?.stringValue.flatMap(Base64URL.decode),
                let signature = answer["sig"]?.stringValue.flatMap(Base64URL.decode)
            else { throw ClientError.protocolViolation("login result without kx") }
            let ciphertext = answer["mlkem768_ct"]?.stringValue.flatMap(Base64URL.decode)
            do {
                let keys = try keyExchange.finish(
                    serverX25519: serverX25519, ciphertext: ciphertext, signature: signature, challenge: challenge,
                    sessionID: result.sessionID, identity: configuration.identityPublicKey)
                // New keys (sequences at 1) apply from the next frame.
                sealed = SealedChannel(clientSideOf: keys)
                sealedMode = options.mode
            } catch {
                transport?.abort()
                throw ClientError.untrustedGateway("session-key answer refused: \(error)")
            }
        } else {
            sealed = nil
        }
        session = result
        if let privateSeq = result.privateSeq, resume == nil { tracker.raisePrivateSeq(to: privateSeq) }
        return result
    }

    // MARK: - Requests

    /// Sends one request and returns its `result`; an error answer throws `BulwarkError`. Private
    /// methods go sealed when session keys exist (unless `sealed: false`). A `rate_limited` answer
    /// is waited out and sent again, up to `rateLimitRetries` times.
    public func call(_ method: String, _ params: JSONObject? = nil, sealed: Bool? = nil) async throws -> JSONObject {
        try await call(method, params, sealed: sealed, retryRateLimits: true)
    }

    private func call(_ method: String, _ params: JSONObject?, sealed: Bool?, retryRateLimits: Bool) async throws -> JSONObject {
        var attempts = 0
        while true {
            do {
                return try await callOnce(method, params, sealed: sealed)
            } catch let error as BulwarkError where error.message == "rate_limited" && retryRateLimits && attempts < configuration.rateLimitRetries {
                attempts += 1
                try await Task.sleep(for: .milliseconds(max(error.retryAfterMs ?? 100, 1)))
            }
        }
    }

    private func callOnce(_ method: String, _ params: JSONObject?, sealed wantSealed: Bool?) async throws -> JSONObject {
        let useSeal = wantSealed ?? method.hasPrefix("private/")
        // A login in flight may replace the keys: sealed requests wait for it.
        while useSeal && loginInFlight && method != "public/auth" {
            await withCheckedContinuation { loginWaiters.append($0) }
        }
        guard let transport else { throw ClientError.notConnected }
        nextRequestID += 1
        let id = nextRequestID
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("jsonrpc")
        writer.string("2.0")
        writer.key("id")
        writer.int(id)
        writer.key("method")
        writer.string(method)
        if let params {
            writer.key("params")
            writer.value(.object(params))
        }
        writer.endObject()
        let payload = writer.bytes
        let timeout = configuration.requestTimeout
        let reply: JSONObject = try await withCheckedThrowingContinuation { continuation in
            pending[id] = continuation
            // Sealing and writing happen together, so sequence numbers go out in order.
            if useSeal, var channel = self.sealed {
                transport.send(binary: channel.seal(payload, mode: sealedMode))
                self.sealed = channel
                sealedInFlight.insert(id)
            } else {
                transport.send(text: payload)
            }
            timers[id] = Task { [weak self] in
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                await self?.expire(id, method: method)
            }
        }
        if let error = reply["error"]?.objectValue { throw BulwarkError(error) }
        guard let result = reply["result"]?.objectValue else { throw ClientError.protocolViolation("\(method): result is not an object") }
        return result
    }

    private func expire(_ id: Int64, method: String) {
        timers[id] = nil
        settle(id)
        pending.removeValue(forKey: id)?.resume(throwing: ClientError.timeout(method: method))
    }

    /// A request is answered (or given up): wake a login waiting for sealed requests to drain.
    private func settle(_ id: Int64) {
        guard sealedInFlight.remove(id) != nil, sealedInFlight.isEmpty else { return }
        let waiters = drainWaiters
        drainWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    // MARK: - Subscriptions

    /// Subscribes; book channels (`book.<instrument>`) are rebuilt in `books`. Returns the channels.
    @discardableResult
    public func subscribe(_ channels: [String]) async throws -> [String] {
        for channel in channels {
            tracker.reset(channel: channel)
            if let instrument = Self.bookInstrument(channel) { books[instrument] = OrderBook(instrument: instrument) }
        }
        let result = try await call("subscribe", ["channels": .array(channels.map { .string($0) })])
        let subscribed = result["channels"]?.arrayValue?.compactMap(\.stringValue) ?? channels
        subscriptions.formUnion(subscribed)
        return subscribed
    }

    @discardableResult
    public func unsubscribe(_ channels: [String]) async throws -> [String] {
        let result = try await call("unsubscribe", ["channels": .array(channels.map { .string($0) })])
        let removed = result["channels"]?.arrayValue?.compactMap(\.stringValue) ?? channels
        subscriptions.subtract(removed)
        return removed
    }

    /// Gaps seen so far on all channels (book gaps included).
    public var gaps: Int { tracker.gaps }
    /// The highest private event number received: where a resume continues.
    public var lastPrivateSeq: Int64 { tracker.lastPrivateSeq }

    private static func bookInstrument(_ channel: String) -> String? {
        channel.hasPrefix("book.") ? String(channel.dropFirst(5)) : nil
    }

    // MARK: - Receiving

    private func receive(_ event: TransportEvent, generation: Int) async {
        guard generation == self.generation else { return }
        let bytes: [UInt8]
        switch event {
        case .closed(let code, let reason):
            connectionClosed(code: code, reason: reason)
            return
        case .text(let text):
            bytes = text
        case .binary(let frame):
            guard var channel = sealed else {
                refuseGateway("a sealed frame without session keys")
                return
            }
            do {
                bytes = try channel.open(frame).payload
                sealed = channel
            } catch {
                refuseGateway("sealed frame refused: \(error)")
                return
            }
        }
        guard let message = try? Self.parser.parse(bytes).objectValue else {
            refuseGateway("unparseable message")
            return
        }
        if message["result"] != nil || message["error"] != nil {
            if let id = message["id"]?.int64Value, let continuation = pending.removeValue(forKey: id) {
                timers.removeValue(forKey: id)?.cancel()
                settle(id)
                continuation.resume(returning: message)
            } else if let error = message["error"]?.objectValue {
                eventSink.yield(.notification(method: "error", params: error))
            }
            return
        }
        guard let method = message["method"]?.stringValue else { return }
        let params = message["params"]?.objectValue ?? JSONObject()
        switch method {
        case "subscription":
            onChannelMessage(params)
        case "session.expiring":
            eventSink.yield(.notification(method: method, params: params))
            Task { await self.renewAfterWarning() }
        case "session.terminated":
            endedReason = params["reason"]?.stringValue ?? "terminated"
            eventSink.yield(.notification(method: method, params: params))
        case "hello":
            guard let challenge = params["challenge"]?.stringValue else {
                failHello(ClientError.protocolViolation("hello without challenge"))
                return
            }
            self.challenge = challenge
            hello = params
            helloWaiter?.resume(returning: params)
            helloWaiter = nil
        default:
            eventSink.yield(.notification(method: method, params: params))
        }
    }

    private func onChannelMessage(_ params: JSONObject) {
        guard let channel = params["channel"]?.stringValue, let seq = params["seq"]?.int64Value, let data = params["data"] else { return }
        let message = ChannelMessage(
            channel: channel, seq: seq, prevSeq: params["prev_seq"]?.int64Value, privateSeq: params["private_seq"]?.int64Value, data: data)
        if let instrument = Self.bookInstrument(channel) {
            var book = books[instrument] ?? OrderBook(instrument: instrument)
            let outcome = book.apply(data: data.objectValue ?? JSONObject(), seq: seq, prevSeq: message.prevSeq)
            books[instrument] = book
            eventSink.yield(.message(message))
            switch outcome {
            case .applied:
                eventSink.yield(.book(book))
            case .ignored:
                break
            case .gap(let expected, let got):
                tracker.countGap()
                eventSink.yield(.gap(channel: channel, expected: expected, got: got))
                Task { await self.resnapshot(channel) }
            case .malformed:
                tracker.countGap()
                eventSink.yield(.gap(channel: channel, expected: book.seq, got: nil))
                Task { await self.resnapshot(channel) }
            }
            return
        }
        switch tracker.observe(channel: channel, seq: seq, privateSeq: message.privateSeq) {
        case .duplicate:
            return
        case .gap(let expected, let got):
            eventSink.yield(.gap(channel: channel, expected: expected, got: got))
        case .inOrder:
            break
        }
        eventSink.yield(.message(message))
    }

    /// A book gap: unsubscribe and subscribe again for a fresh snapshot.
    private func resnapshot(_ channel: String) async {
        do {
            _ = try await unsubscribe([channel])
            _ = try await subscribe([channel])
        } catch {
            // The connection may be going away; a resume resubscribes.
        }
    }

    private func renewAfterWarning() async {
        do {
            let result = try await renew()
            eventSink.yield(.renewed(result))
        } catch {
            eventSink.yield(.notification(method: "renewal.failed", params: ["error": .string("\(error)")]))
        }
    }

    /// The gateway broke the protocol or a sealed frame failed its check: nothing more from this
    /// connection is trusted. It is closed with 1002 and the session resumed on a new one.
    private func refuseGateway(_ detail: String) {
        eventSink.yield(.notification(method: "client.refused", params: ["reason": .string(detail)]))
        if let transport { Task { await transport.close(code: .protocolError) } }
    }

    private func connectionClosed(code: UInt16?, reason: String?) {
        transport = nil
        failHello(ClientError.connectionClosed(code: code))
        sealed = nil
        let waiting = pending
        pending = [:]
        for (id, timer) in timers {
            timer.cancel()
            settle(id)
        }
        timers = [:]
        // Books are kept but not trusted until the next snapshot (a resume resubscribes).
        for instrument in books.keys { books[instrument]?.markStale() }
        for (_, continuation) in waiting { continuation.resume(throwing: ClientError.connectionClosed(code: code)) }
        eventSink.yield(.disconnected(code: code, reason: reason))
        defer { if closing { eventSink.finish() } }
        // 1000: our logout or close; 4001 expired; 4002 revoked/evicted/risk; 4003 kill switch.
        if let code, [4001, 4002, 4003].contains(code) {
            endedReason = endedReason ?? reason ?? "closed \(code)"
        }
        if let endedReason {
            eventSink.yield(.sessionEnded(reason: endedReason))
            return
        }
        guard !closing, code != 1000, configuration.reconnect, login != nil, session != nil, !resuming else { return }
        resuming = true
        Task { await self.resumeAfterDrop() }
    }

    /// Tests: seals `payload` with the next sequence number and sends it after `tamper` changed it.
    func sendSealedForTesting(_ payload: [UInt8], tamper: ([UInt8]) -> [UInt8]) throws {
        guard let transport, var channel = sealed else { throw ClientError.notConnected }
        transport.send(binary: tamper(channel.seal(payload, mode: sealedMode)))
        sealed = channel
    }

    /// Reconnects with jittered exponential backoff and resumes the session with replay.
    private func resumeAfterDrop() async {
        defer { resuming = false }
        var backoff = ReconnectBackoff(initialMs: configuration.backoffInitialMs, maxMs: configuration.backoffMaxMs)
        while !closing, endedReason == nil, let session {
            try? await Task.sleep(for: .milliseconds(backoff.nextDelayMs()))
            while reconnectsHeld && !closing { try? await Task.sleep(for: .milliseconds(10)) }
            if closing { return }
            do {
                try await connect()
                let result = try await performLogin(resume: (session.sessionID, tracker.lastPrivateSeq))
                reconnects += 1
                // Replayed events and fresh snapshots may already have been read: books are not
                // touched here (they were marked stale at the drop and the snapshot resynced them).
                if let channels = result.subscriptions { subscriptions = Set(channels) }
                eventSink.yield(.resumed(result))
                return
            } catch let error as BulwarkError where error.reason == "unknown_session" {
                endedReason = "unknown_session"
                eventSink.yield(.sessionEnded(reason: "unknown_session"))
                await transport?.close()
                return
            } catch {
                transport?.abort()
            }
        }
    }
}

// MARK: - Test hooks

extension BulwarkClient {
    func holdReconnects(_ held: Bool) { reconnectsHeld = held }

    /// The next sealed sequence numbers (send, receive); nil without session keys.
    var sealedSequences: (send: UInt64, receive: UInt64)? {
        sealed.map { ($0.nextSendSeq, $0.nextReceiveSeq) }
    }
}
