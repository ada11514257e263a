import BulwarkAuth
import BulwarkCore
import Crypto
import BulwarkSessions
import BulwarkVenue
import Logging
import NIOCore

/// One WebSocket client: its challenge, its session and its subscriptions. Requests arrive in
/// order from `RequestIntake` and are handled one at a time, so a client's orders keep their order.
actor Connection: SessionListener {
    enum Phase {
        case open
        case draining
        case closed
    }

    nonisolated let id: String
    nonisolated let outbound: ConnectionOutbound
    nonisolated let clientIP: String
    /// SHA-256 of the client certificate this connection was made with (mTLS), or nil.
    nonisolated let clientCertificateSHA256: String?
    let app: GatewayApp
    /// This connection's rate-limit buckets and enforcement ladder (docs/rate-limits.md).
    nonisolated let rateGuard: ConnectionRateGuard
    private(set) var challenge: String
    private(set) var session: Session?
    /// The logged-in key's instrument and notional limits, applied to every order.
    private var keyRestrictions = KeyRestrictions()
    /// The logged-in key's sealed-frame policy: with `mac` or `aead`, private methods must arrive in
    /// sealed frames of a mode that satisfies it (`sealed_required` otherwise).
    private var sealedPolicy = SealedFramePolicy.none
    /// Session keys and sequence numbers (PROTOCOL.md §5), after a login with `kx`. Only in memory;
    /// dropped (and so zeroed) when the session ends or a re-login comes without `kx`.
    private var sealedChannel: SealedChannel?
    /// Keys agreed by the login being answered: they take over once its result has been sent, so a
    /// re-login over sealed frames is answered under the old keys.
    private var pendingKeys: PendingKeys?
    /// The mode the request being handled arrived in (nil: a plain text frame).
    private var requestMode: SealedFrameMode?

    private enum PendingKeys {
        case install(SessionKeys)
        case drop
    }
    private var subscriptions: [String: SubscriptionTopic] = [:] {
        didSet { subscriptionsChanged = true }
    }
    /// In a cluster the session's channels are kept in the store, so that another node taking the
    /// session over subscribes them again; written after a request that changed them.
    private var subscriptionsChanged = false
    private var phase = Phase.open
    private var authDeadline: Task<Void, Never>?
    /// The dead-man's switch (`private/cancel_all_after`): cancels the account's orders unless re-armed.
    private var deadMansSwitch: Task<Void, Never>?
    /// `cancel_on_disconnect` from the login, and the orders placed over this connection.
    private var cancelOnDisconnect: SignatureGrant.CancelOnDisconnect?
    private var placedOrders = Set<String>()
    /// Topics accepted by a `subscribe` whose result has not been sent yet: they are registered
    /// right after it, so a client always sees the result before the channel's first message.
    private var pendingTopics: [SubscriptionTopic] = []
    /// A resume's restored subscriptions and replay, done right after its result is sent.
    private var pendingResume: PendingResume?

    private struct PendingResume {
        let topics: [SubscriptionTopic]
        let afterPrivateSeq: UInt64
        /// The session came from another node: its private events there cannot be replayed here.
        let handedOver: Bool
    }

    init(id: String, outbound: ConnectionOutbound, clientIP: String, clientCertificateSHA256: String?, app: GatewayApp) {
        self.id = id
        self.outbound = outbound
        self.clientIP = clientIP
        self.clientCertificateSHA256 = clientCertificateSHA256
        self.app = app
        self.challenge = Base64URL.encode(SecureRandom.bytes(count: 32))
        self.rateGuard = ConnectionRateGuard(clientIP: clientIP, limits: app.rateLimits, signals: outbound)
    }

    var subscriber: FanoutHub.Subscriber { outbound.subscriber(connectionID: id) }

    // MARK: Lifecycle

    /// Sends `hello` and arms the auth deadline.
    func start() {
        let now = app.clock.nowMs()
        let limits = app.configuration.limits
        outbound.send(
            Notification.method("hello") { w in
                w.beginObject()
                w.key("protocol")
                w.string("bulwark.v1")
                w.key("connection_id")
                w.string(id)
                w.key("challenge")
                w.string(challenge)
                w.key("server_time_ms")
                w.int(now)
                w.key("auth_deadline_ms")
                w.int(now + limits.authDeadlineMs)
                w.key("limits")
                w.beginObject()
                w.key("max_message_bytes")
                w.int(Int64(limits.maxMessageBytes))
                w.key("max_subscriptions")
                w.int(Int64(limits.maxSubscriptions))
                w.key("max_in_flight")
                w.int(Int64(limits.maxInFlight))
                w.key("recv_window_ms")
                w.int(app.login.recvWindowMs)
                w.endObject()
                w.endObject()
            })
        authDeadline = Task { [weak self, deadline = limits.authDeadlineMs] in
            try? await Task.sleep(for: .milliseconds(deadline))
            guard !Task.isCancelled else { return }
            await self?.enforceAuthDeadline()
        }
    }

    private func enforceAuthDeadline() {
        guard session == nil, phase == .open else { return }
        app.metrics.authDeadlineCloses.add(1, ordering: .relaxed)
        outbound.close(.policyViolation, reason: "auth deadline")
    }

    /// The socket is gone: drop subscriptions and unbind from the session, which lives on until it
    /// expires or is revoked, so the client can resume it. Cancel-on-disconnect starts its grace timer.
    func closed() {
        phase = .closed
        authDeadline?.cancel()
        app.hub.unsubscribeAll(connectionID: id, topics: subscriptions.keys)
        if let session, app.sessions.session(id: session.id) != nil {
            // Kept for a resume: the next connection of this session gets them back.
            app.savedSubscriptions.save(Array(subscriptions.values), sessionID: session.id)
        }
        subscriptions.removeAll()
        sealedChannel = nil
        if let session {
            let remaining = app.sessions.detach(sessionID: session.id, listener: self)
            if let protection = cancelOnDisconnect {
                armCancelOnDisconnect(protection, session: session, otherConnections: remaining)
            }
        }
        app.connections.remove(id)
    }

    /// Planned shutdown: tell the client, stop taking requests, close 1001 after the drain time.
    func beginShutdown(deadlineMs: Int64) {
        guard phase == .open else { return }
        phase = .draining
        outbound.send(
            Notification.method("server.shutdown") { w in
                w.beginObject()
                w.key("deadline_ms")
                w.int(deadlineMs)
                w.endObject()
            })
    }

    func finishShutdown() {
        outbound.close(.goingAway, reason: "server shutdown")
    }

    /// Called by the session registry (any thread) when this connection's session ends.
    nonisolated func sessionEnded(_ session: Session, reason: SessionEndReason) {
        outbound.send(
            Notification.method("session.terminated") { w in
                w.beginObject()
                w.key("session_id")
                w.string(session.id)
                w.key("reason")
                w.string(reason.rawValue)
                w.endObject()
            })
        outbound.close(reason.closeCode, reason: reason.rawValue)
        Task { await self.forgetSession(session.id) }
        app.risk.sessionEnded(session.id)
    }

    /// Called by the session registry (any thread) when another node took the session over: the
    /// session lives on there, so no `session.terminated`; the client resumes where it is now.
    nonisolated func sessionMoved(_ session: Session) {
        outbound.close(.goingAway, reason: "session_moved")
        Task { await self.forgetSession(session.id) }
    }

    /// Called by the session registry (any thread) shortly before the session's deadline.
    nonisolated func sessionExpiring(_ session: Session, reason: Session.ExpiryReason) {
        outbound.send(
            Notification.method("session.expiring") { w in
                w.beginObject()
                w.key("session_id")
                w.string(session.id)
                w.key("reason")
                w.string(reason.rawValue)
                w.key("expires_at_ms")
                w.int(session.expiresAtMs)
                w.endObject()
            })
    }

    private func forgetSession(_ sessionID: String) {
        guard session?.id == sessionID else { return }
        session = nil
        sealedChannel = nil
    }

    // MARK: Dispatch

    func handle(_ request: RPCRequest, sealedMode: SealedFrameMode? = nil) async {
        let usIn = app.clock.nowUs()
        requestMode = sealedMode
        defer { requestMode = nil }
        guard phase == .open else {
            reply(request.id, error: RPCError(.internalError, reason: "shutting_down"))
            return
        }
        // Charged before anything else; a refusal is answered by the guard itself.
        guard case .proceed(let usage) = rateGuard.admit(request, accountID: session?.accountID, keyID: session?.keyID, nowMs: app.clock.nowMs())
        else { return }
        do throws(RPCError) {
            let write = try await dispatch(request)
            respond(RPCResponse.success(id: request.id, usIn: usIn, usOut: app.clock.nowUs(), usage: usage, writeResult: write))
        } catch {
            pendingResume = nil
            auditRejection(request.method, error)
            reply(request.id, error: error)
        }
        applyPendingKeys()
        if let resume = pendingResume {
            pendingResume = nil
            await restore(resume.topics, replayingAfter: resume.handedOver ? nil : resume.afterPrivateSeq)
        }
        let topics = pendingTopics
        pendingTopics.removeAll()
        for topic in topics { await app.marketData.subscribe(topic, subscriber: subscriber) }
        if subscriptionsChanged { saveSubscriptionsForTakeover() }
    }

    /// Cluster mode: records the session's channels for a node that may take it over. Best effort:
    /// a failed write costs only the channels of a resume elsewhere (it says which it restored).
    private func saveSubscriptionsForTakeover() {
        subscriptionsChanged = false
        guard app.clusterSessions != nil, let session else { return }
        let channels = subscriptions.values.map(\.channel)
        do {
            try app.store.saveSessionSubscriptions(id: session.id, channels: channels)
        } catch {
            app.logger.warning("cannot save the session's channels", metadata: ["session_hash": "\(SessionHash.of(session.id))", "error": "\(error)"])
        }
    }

    /// After a resume's result: the private events missed since `afterPrivateSeq`, in order, then
    /// the live channels, with nothing lost or doubled in between (PrivateEventLog); public channels
    /// resubscribe as usual (a book sends a fresh snapshot). Without `afterPrivateSeq` (a session
    /// taken over from another node) the private channels go live with no replay.
    private func restore(_ topics: [SubscriptionTopic], replayingAfter afterPrivateSeq: UInt64?) async {
        guard let session else { return }
        let privateTopics = topics.filter(\.isPrivate)
        let subscriber = self.subscriber
        let hub = app.hub
        for topic in topics where subscriptions.count < app.configuration.limits.maxSubscriptions {
            subscriptions[topic.key] = topic
        }
        guard let afterPrivateSeq else {
            for topic in privateTopics { hub.subscribe(topic: topic.key, subscriber) }
            for topic in topics where !topic.isPrivate { await app.marketData.subscribe(topic, subscriber: subscriber) }
            return
        }
        _ = app.marketData.privateLog.replay(
            accountID: session.accountID, after: afterPrivateSeq, topicKeys: Set(privateTopics.map(\.key))
        ) { missed in
            for event in missed { hub.send(event.bytes, to: subscriber, delivery: .reliable) }
            for topic in privateTopics { hub.subscribe(topic: topic.key, subscriber) }
        }
        for topic in topics where !topic.isPrivate { await app.marketData.subscribe(topic, subscriber: subscriber) }
    }

    /// A binary frame: opened with the session keys (tag first, then the exact next sequence number),
    /// then handled like a text request, and answered sealed in the same mode. Any violation is
    /// answered in plain text and closes the connection with 4005: the stream can no longer be trusted.
    func handleSealed(_ frame: [UInt8]) async {
        guard phase == .open else { return }
        guard var channel = sealedChannel else { return sealedFailure(.noSessionKeys) }
        let opened: (mode: SealedFrameMode, payload: [UInt8])
        do throws(SealedFrameError) {
            opened = try channel.open(frame)
        } catch {
            return sealedFailure(error)
        }
        sealedChannel = channel
        let request: RPCRequest
        do {
            request = try RPCRequestDecoder.decode(try StrictJSONParser(limits: GatewayApp.messageLimits).parse(opened.payload))
        } catch let error as JSONParseError {
            return sealedReply(RPCResponse.error(id: nil, RPCError(.parseError, reason: error.reason.wireName)), mode: opened.mode)
        } catch let failure as RPCRequestDecoder.Failure {
            return sealedReply(RPCResponse.error(id: failure.id, failure.error), mode: opened.mode)
        } catch {
            return sealedReply(RPCResponse.error(id: nil, RPCError(.parseError)), mode: opened.mode)
        }
        await handle(request, sealedMode: opened.mode)
    }

    /// Security-relevant refusals are audited (never the request body): validation failures,
    /// missing scopes or step-up, unsealed private calls, halted trading.
    private func auditRejection(_ method: String, _ error: RPCError) {
        let audited: Set<ErrorCode> = [
            .invalidParams, .invalidRequest, .unauthenticated, .forbidden, .sessionExpired, .sessionRevoked, .mfaRequired, .mfaInvalid,
            .sealedRequired, .tradingHalted, .rateLimited, .banned,
        ]
        guard audited.contains(error.code), method != "public/auth" else { return }
        var details = ["method": String(method.prefix(64)), "code": error.code.name]
        if let field = error.field { details["field"] = String(field.prefix(128)) }
        if let reason = error.reason { details["reason"] = String(reason.prefix(128)) }
        app.audit.record(
            "request.rejected", actor: session?.accountID ?? "unknown", credentialID: session?.keyID, sessionID: session?.id, clientIP: clientIP,
            outcome: .failure, details: details)
    }

    private func sealedFailure(_ error: SealedFrameError) {
        app.metrics.sealedFrameViolations.add(1, ordering: .relaxed)
        app.monitor.sealedFrameViolation(ip: clientIP)
        app.audit.record(
            "sealed.violation", actor: session?.accountID ?? "unknown", credentialID: session?.keyID, sessionID: session?.id, clientIP: clientIP,
            outcome: .failure, details: ["code": error.code.name])
        app.logger.notice(
            "security: sealed frame refused", metadata: ["connection": "\(id)", "ip": "\(clientIP)", "error": "\(error)"])
        let reason: String
        switch error {
        case .malformed: reason = "malformed_frame"
        case .noSessionKeys: reason = "no_session_keys"
        case .macInvalid: reason = "tag_mismatch"
        case .sequenceViolation(let expected, let got): reason = "expected_seq_\(expected)_got_\(got)"
        }
        outbound.send(RPCResponse.error(id: nil, RPCError(error.code, reason: reason)))
        phase = .draining
        outbound.close(.sealedFrameViolation, reason: error.code.name)
    }

    /// Answers in the mode the request came in: sealed requests get sealed responses.
    private func respond(_ bytes: [UInt8]) {
        if let mode = requestMode { sealedReply(bytes, mode: mode) } else { outbound.send(bytes) }
    }

    private func sealedReply(_ bytes: [UInt8], mode: SealedFrameMode) {
        guard var channel = sealedChannel else { return outbound.send(bytes) }
        outbound.sendBinary(channel.seal(bytes, mode: mode))
        sealedChannel = channel
    }

    private func reply(_ id: RPCID, error: RPCError) {
        respond(RPCResponse.error(id: id, error))
    }

    /// After a login's result went out: its keys replace the old ones (sequences restart at 1).
    private func applyPendingKeys() {
        switch pendingKeys {
        case .install(let keys): sealedChannel = SealedChannel(serverSideOf: keys)
        case .drop: sealedChannel = nil
        case nil: break
        }
        pendingKeys = nil
    }

    /// Returns a writer for the `result` member.
    private func dispatch(_ request: RPCRequest) async throws(RPCError) -> ResultWriter {
        switch request.method {
        case "public/time", "public/ping":
            _ = try ParamsReader(request.params, allowed: [])
            let now = app.clock.nowMs()
            return { w in
                w.beginObject()
                w.key("server_time_ms")
                w.int(now)
                w.endObject()
            }
        case "public/instruments":
            _ = try ParamsReader(request.params, allowed: [])
            guard let instruments = try? await app.venue.instruments() else { throw RPCError.venueUnavailable }
            return { w in Render.instruments(instruments, to: &w) }
        case "public/usage":
            return try configureUsage(request.params)
        case "public/auth":
            // Apply operator changes (revocations, funding) made up to now before deciding.
            await app.changeFeed.catchUp()
            if request.params["grant_type"]?.stringValue == "bearer" { return try await authenticateBearer(request.params) }
            return try authenticate(request.params)
        case "subscribe":
            return try await subscribe(request.params)
        case "unsubscribe":
            return try unsubscribe(request.params)
        default:
            guard request.method.hasPrefix("private/") else { throw RPCError(.methodNotFound) }
            let session = try activeSession()
            return try await dispatchPrivate(request, session: session)
        }
    }

    typealias ResultWriter = @Sendable (inout JSONWriter) -> Void

    /// The session, if it is still alive; records the request as activity and re-scores the
    /// session's risk with it (a burst of requests is itself a signal).
    private func activeSession() throws(RPCError) -> Session {
        guard let current = session else { throw RPCError(.unauthenticated) }
        let now = app.clock.nowMs()
        guard app.sessions.touch(id: current.id, nowMs: now) != nil else {
            session = nil
            throw RPCError(.sessionExpired)
        }
        app.risk.requestMade(accountID: current.accountID, nowMs: now)
        guard app.risk.reassess(sessionID: current.id, nowMs: now) != .terminate, let alive = app.sessions.session(id: current.id) else {
            session = nil
            throw RPCError(.sessionRevoked, reason: "risk")
        }
        session = alive
        return alive
    }

    // MARK: Authentication

    private func authenticate(_ params: JSONObject) throws(RPCError) -> ResultWriter {
        let reader = try ParamsReader(params, allowed: SignatureGrant.allowedMembers)
        let grantType = try reader.requiredString("grant_type", maxLength: 32)
        guard grantType == "signature" else { throw RPCError.invalidParams("grant_type", "unsupported_value") }
        let grant = try SignatureGrant(params: reader)
        if let offer = grant.keyExchange, !SessionKeyExchange.isUsable(offer) {
            throw RPCError.invalidParams("kx.x25519", "invalid_key")
        }
        let now = app.clock.nowMs()
        // Repeated failures for this key id or from this address must wait before being checked again.
        if case .wait(let retryAfterMs) = app.loginThrottle.admit(keyID: grant.keyID, ip: clientIP, nowMs: now) {
            throw RPCError(.rateLimited, retryAfterMs: retryAfterMs, bucket: "login")
        }
        let granted: SignatureLogin.Granted
        switch app.login.verify(
            grant, challenge: challenge, clientIP: clientIP, clientCertificateSHA256: clientCertificateSHA256, nowMs: now)
        {
        case .success(let value): granted = value
        case .failure(let error):
            // A login the store could not check is the gateway's failure, not the client's.
            if error.code != .internalError { recordFailedLogin(grant, error: error, nowMs: now) }
            throw error
        }
        let outcome = try establishSession(
            LoginCredential(
                credentialID: granted.key.id, accountID: granted.account.id, scopes: granted.scopes, authMethod: "signature", resume: grant.resume,
                originID: granted.key.id),
            nowMs: now)
        let keyExchange = try agreeSessionKeys(grant.keyExchange, sessionID: outcome.session.id)
        // The challenge is single-use: the next login on this connection must sign a new one. (A
        // login refused after its signature was checked keeps the challenge, so the client can
        // retry; its nonce is already spent, so the refused frame itself cannot be replayed.)
        challenge = Base64URL.encode(SecureRandom.bytes(count: 32))
        let created = outcome.session
        session = created
        cancelOnDisconnect = grant.cancelOnDisconnect
        app.loginThrottle.recordSuccess(keyID: granted.key.id, ip: clientIP)
        keyRestrictions = granted.key.restrictions
        sealedPolicy = granted.key.sealedPolicy
        try? app.store.recordKeyUse(id: granted.key.id, nowMs: now)
        authDeadline?.cancel()
        app.metrics.loginSuccesses.add(1, ordering: .relaxed)
        app.audit.record(
            "auth.login", actor: granted.account.id, credentialID: granted.key.id, sessionID: created.id, clientIP: clientIP, outcome: .success,
            details: ["grant": "signature", "kind": outcome.kind.rawValue, "session_keys": grant.keyExchange == nil ? "none" : (grant.keyExchange?.mlkem768 == nil ? "x25519" : "x25519+mlkem768")])
        app.logger.info(
            "login", metadata: ["connection": "\(id)", "session_hash": "\(SessionHash.of(created.id))",
                "key": "\(granted.key.id)", "ip": "\(clientIP)", "kind": "\(outcome.kind.rawValue)",
                "risk": "\(created.risk.score)"])
        // A login whose risk is above the kill threshold ends at once (session.terminated, 4002).
        guard app.risk.reassess(sessionID: created.id, nowMs: now) != .terminate, let scored = app.sessions.session(id: created.id) else {
            session = nil
            throw RPCError(.sessionRevoked, reason: "risk")
        }
        session = scored
        return loginResult(scored, outcome: outcome, keyExchange: keyExchange, nowMs: now)
    }

    /// The bearer grant (PROTOCOL.md §4.2): `BearerVerifier` checks the token, its issuer and its
    /// sender constraint (DPoP proof bound to this connection's challenge, or the mTLS certificate);
    /// the session that follows is like any other, with auth method `bearer` and the token's `jti`
    /// as its credential id (so revoking the token ends it).
    private func authenticateBearer(_ params: JSONObject) async throws(RPCError) -> ResultWriter {
        let reader = try ParamsReader(params, allowed: BearerGrant.allowedMembers)
        let grant = try BearerGrant(params: reader)
        let now = app.clock.nowMs()
        // Throttled like API keys: per credential (the token) and per address.
        let throttleKey = "bearer:" + Base64URL.encode(SHA256.hash(data: Array(grant.accessToken.utf8)).prefix(12))
        if case .wait(let retryAfterMs) = app.loginThrottle.admit(keyID: throttleKey, ip: clientIP, nowMs: now) {
            throw RPCError(.rateLimited, retryAfterMs: retryAfterMs, bucket: "login")
        }
        guard let verifier = app.oauth?.bearer else { throw RPCError(.authFailed) }
        let certificate = clientCertificateSHA256.flatMap(Self.hexBytes)
        let identity: BearerIdentity
        do throws(BearerFailure) {
            identity = try await verifier.verify(grant, challenge: challenge, clientCertificateSHA256: certificate, nowMs: now)
        } catch {
            app.metrics.loginFailures.add(1, ordering: .relaxed)
            _ = app.loginThrottle.recordFailure(keyID: throttleKey, ip: clientIP, nowMs: now)
            app.risk.loginFailed(accountID: nil, ip: clientIP, nowMs: now)
            app.logger.notice("bearer login failed", metadata: ["connection": "\(id)", "ip": "\(clientIP)", "reason": "\(error)"])
            let refusal = error == .replayed ? RPCError(.replayDetected) : RPCError(.authFailed)
            app.monitor.loginFailed(ip: clientIP, keyID: throttleKey, code: refusal.code)
            app.metrics.loginFailuresByCode.add(refusal.code.name)
            app.audit.record(
                "auth.login", actor: "unknown", credentialID: throttleKey, clientIP: clientIP, outcome: .failure,
                details: ["code": refusal.code.name, "grant": "bearer", "reason": "\(error)"])
            throw refusal
        }
        let outcome = try establishSession(
            LoginCredential(
                credentialID: identity.credentialID, accountID: identity.accountID, scopes: identity.scopes, authMethod: "bearer", resume: nil,
                originID: identity.clientID.map { "oauth:" + $0 } ?? "oauth:" + identity.issuer + "|" + identity.accountID),
            nowMs: now)
        pendingKeys = .drop
        challenge = Base64URL.encode(SecureRandom.bytes(count: 32))
        session = outcome.session
        cancelOnDisconnect = nil
        keyRestrictions = KeyRestrictions()
        sealedPolicy = .none
        app.loginThrottle.recordSuccess(keyID: throttleKey, ip: clientIP)
        authDeadline?.cancel()
        app.metrics.loginSuccesses.add(1, ordering: .relaxed)
        app.audit.record(
            "auth.login", actor: identity.accountID, credentialID: identity.credentialID, sessionID: outcome.session.id, clientIP: clientIP,
            outcome: .success, details: ["grant": "bearer", "issuer": identity.issuer, "client": identity.clientID ?? "-", "kind": outcome.kind.rawValue])
        app.logger.info(
            "login", metadata: ["connection": "\(id)", "session_hash": "\(SessionHash.of(outcome.session.id))", "method": "bearer",
                "issuer": "\(identity.issuer)", "client": "\(identity.clientID ?? "-")", "ip": "\(clientIP)", "kind": "\(outcome.kind.rawValue)"])
        guard app.risk.reassess(sessionID: outcome.session.id, nowMs: now) != .terminate, let scored = app.sessions.session(id: outcome.session.id) else {
            session = nil
            throw RPCError(.sessionRevoked, reason: "risk")
        }
        session = scored
        return loginResult(scored, outcome: outcome, keyExchange: nil, nowMs: now)
    }

    private static func hexBytes(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// The `public/auth` result (PROTOCOL.md §4.3), the same for every grant.
    private func loginResult(_ scored: Session, outcome: Established, keyExchange: KeyExchangeAnswer?, nowMs now: Int64) -> ResultWriter {
        let nextChallenge = challenge
        let mfa = app.mfa.isEnrolled(accountID: scored.accountID) ? "totp" : "none"
        let replay = pendingResume.map { resume in
            resume.handedOver
                ? (count: 0, complete: false)
                : app.marketData.privateLog.pending(
                    accountID: scored.accountID, after: resume.afterPrivateSeq, topicKeys: Set(resume.topics.filter(\.isPrivate).map(\.key)))
        }
        let restoredChannels = pendingResume?.topics.map(\.channel) ?? []
        let lastPrivateSeq = app.marketData.privateLog.lastSeq(accountID: scored.accountID)
        return { w in
            w.beginObject()
            w.key("session_id")
            w.string(scored.id)
            w.key("account_id")
            w.string(scored.accountID)
            w.key("scopes")
            w.beginArray()
            for scope in scored.scopes.sorted() { w.string(scope.rawValue) }
            w.endArray()
            w.key("expires_at_ms")
            w.int(scored.expiresAtMs)
            w.key("idle_timeout_ms")
            w.int(scored.idleTimeoutMs)
            w.key("mfa")
            w.string(mfa)
            w.key("assurance")
            w.string(scored.assurance(atMs: now).rawValue)
            w.key("risk")
            Render.risk(scored.risk, to: &w)
            w.key("challenge")
            w.string(nextChallenge)
            w.key("renewed")
            w.bool(outcome.kind == .renewed)
            w.key("resumed")
            w.bool(outcome.kind == .resumed)
            w.key("replayed")
            w.int(Int64(replay?.count ?? 0))
            if let replay {
                w.key("replay_complete")
                w.bool(replay.complete)
                w.key("subscriptions")
                w.beginArray()
                for channel in restoredChannels { w.string(channel) }
                w.endArray()
            }
            w.key("private_seq")
            w.uint(lastPrivateSeq)
            if let keyExchange {
                w.key("kx")
                w.beginObject()
                w.key("x25519")
                w.string(Base64URL.encode(keyExchange.x25519))
                if let ciphertext = keyExchange.mlkem768Ciphertext {
                    w.key("mlkem768_ct")
                    w.string(Base64URL.encode(ciphertext))
                }
                w.key("sig")
                w.string(Base64URL.encode(keyExchange.signature))
                w.endObject()
            }
            w.endObject()
        }
    }

    /// Agrees session keys over the challenge this login signed; they are installed once the result
    /// is sent. A login without `kx` drops any earlier keys.
    private func agreeSessionKeys(_ offer: KeyExchangeOffer?, sessionID: String) throws(RPCError) -> KeyExchangeAnswer? {
        guard let offer else {
            pendingKeys = .drop
            return nil
        }
        do throws(KeyExchangeFailure) {
            let answer = try SessionKeyExchange.answer(offer, challenge: challenge, sessionID: sessionID, identity: app.identity.privateKey)
            pendingKeys = .install(answer.keys)
            return answer
        } catch {
            // Checked before the login (`isUsable`); reaching here means the keys failed late.
            app.sessions.end(id: sessionID, reason: .logout, nowMs: app.clock.nowMs(), notify: false)
            session = nil
            throw RPCError.invalidParams(error == .invalidMLKEM ? "kx.mlkem768" : "kx.x25519", "invalid_key")
        }
    }

    private struct Established {
        enum Kind: String {
            case created
            /// Re-authentication on the same connection (PROTOCOL.md §3.5).
            case renewed
            /// A reconnect re-attached to a live session (PROTOCOL.md §4.3).
            case resumed
        }

        let session: Session
        let kind: Kind
    }

    /// Who a successful login proved to be: an API key (signature grant) or an access token (bearer grant).
    private struct LoginCredential {
        /// The session's `keyID`: the API key id, or the access token's `jti`.
        let credentialID: String
        let accountID: String
        let scopes: Set<Scope>
        let authMethod: String
        let resume: SignatureGrant.Resume?
        /// Whose login history the risk engine reads ("new network for this credential"): the API
        /// key, or the OAuth client / external principal — not the token, which is new every time.
        let originID: String
    }

    /// Renews the current session in place, resumes the one named in `resume`, or creates one.
    private func establishSession(_ credential: LoginCredential, nowMs now: Int64) throws(RPCError) -> Established {
        if let current = session, current.keyID == credential.credentialID, current.scopes == credential.scopes, credential.resume == nil,
            let renewed = app.sessions.renew(id: current.id, nowMs: now)
        {
            // Same session id, timers restarted, subscriptions kept.
            return Established(session: renewed, kind: .renewed)
        }
        if let previous = session {
            app.sessions.end(id: previous.id, reason: .logout, nowMs: now, notify: false)
            session = nil
        }
        let network = NetworkPrefix.of(clientIP) ?? clientIP
        let origin = try? app.store.recordLoginOrigin(credentialID: credential.originID, ip: clientIP, network: network, nowMs: now)
        if let origin, origin.newNetwork, !origin.firstLogin {
            app.monitor.loginFromNewNetwork(accountID: credential.accountID, keyID: credential.originID, ip: clientIP, network: network)
        }
        if let resume = credential.resume {
            // Only the credential that owns the session may resume it, with the same scopes; the
            // answer for any mismatch is the same as for an unknown or ended session.
            guard let existing = app.sessions.session(id: resume.sessionID) else {
                guard let adopted = try takeOver(resume, credential: credential, nowMs: now) else {
                    throw RPCError.invalidParams("resume.session_id", "unknown_session")
                }
                if let origin { app.risk.sessionStarted(adopted.id, origin: origin) }
                return Established(session: adopted, kind: .resumed)
            }
            guard existing.keyID == credential.credentialID, existing.scopes == credential.scopes,
                let attached = app.sessions.attach(sessionID: resume.sessionID, listener: self, nowMs: now)
            else { throw RPCError.invalidParams("resume.session_id", "unknown_session") }
            let restored = app.savedSubscriptions.take(sessionID: attached.id)
            pendingResume = PendingResume(topics: restored, afterPrivateSeq: UInt64(resume.lastPrivateSeq), handedOver: false)
            let stopped = app.protection.disarm(sessionID: attached.id)
            if stopped > 0 {
                app.logger.notice("resume stopped cancel-on-disconnect", metadata: ["session_hash": "\(SessionHash.of(attached.id))", "timers": "\(stopped)"])
            }
            if let origin { app.risk.sessionStarted(attached.id, origin: origin) }
            return Established(session: attached, kind: .resumed)
        }
        if let cluster = app.clusterSessions {
            let sessions = app.sessions
            let outcome: ClusterSessions.Outcome
            do {
                outcome = try cluster.admit(accountID: credential.accountID, nowMs: now) { sessions.end(id: $0, reason: .evicted, nowMs: now) }
            } catch {
                // The shared store cannot count the account's sessions: fail closed.
                app.logger.error("cluster session count failed", metadata: ["error": "\(error)"])
                throw RPCError(.internalError, reason: "store_unavailable")
            }
            guard outcome == .admitted else { throw RPCError(.forbidden, reason: "too_many_sessions") }
        }
        do {
            let created = try app.sessions.create(
                accountID: credential.accountID, keyID: credential.credentialID, scopes: credential.scopes, authMethod: credential.authMethod,
                clientIP: clientIP, nowMs: now, listener: self)
            if let origin { app.risk.sessionStarted(created.id, origin: origin) }
            // Public channels subscribed before the login belong to the new session's record too.
            if !subscriptions.isEmpty { subscriptionsChanged = true }
            return Established(session: created, kind: .created)
        } catch {
            throw RPCError(.forbidden, reason: "too_many_sessions")
        }
    }

    /// Cluster mode: the resumed session lives on another node (the client's reconnect landed
    /// here, or that node died). It moves here with its deadlines, step-up and channels; private
    /// events continue above the client's `last_private_seq`, with `replay_complete` false
    /// (PROTOCOL.md §4.3). Nil when there is no such session for this credential anywhere.
    private func takeOver(_ resume: SignatureGrant.Resume, credential: LoginCredential, nowMs now: Int64) throws(RPCError) -> Session? {
        guard let cluster = app.clusterSessions else { return nil }
        let handover: ClusterSessions.Handover?
        do {
            handover = try cluster.takeOver(sessionID: resume.sessionID, credentialID: credential.credentialID, scopes: credential.scopes, nowMs: now)
        } catch {
            app.logger.error("session takeover failed", metadata: ["error": "\(error)"])
            throw RPCError(.internalError, reason: "store_unavailable")
        }
        guard let handover else { return nil }
        let adopted = app.sessions.adopt(handover.session, fromNode: handover.fromNode, listener: self, nowMs: now)
        let afterSeq = UInt64(max(0, resume.lastPrivateSeq))
        app.marketData.privateLog.continueNumbering(accountID: adopted.accountID, after: afterSeq)
        let topics = handover.channels.compactMap { SubscriptionTopic(channel: $0, accountID: adopted.accountID) }
        pendingResume = PendingResume(topics: topics, afterPrivateSeq: afterSeq, handedOver: true)
        app.logger.notice(
            "session taken over from another node", metadata: ["session_hash": "\(SessionHash.of(adopted.id))", "from_node": "\(handover.fromNode)"])
        return adopted
    }

    /// Counts a failed login for throttling, lockout and the risk engine's failure signals.
    private func recordFailedLogin(_ grant: SignatureGrant, error: RPCError, nowMs now: Int64) {
        app.metrics.loginFailures.add(1, ordering: .relaxed)
        if error.code != .timestampOutOfWindow,
            case .lockedKey(let untilMs) = app.loginThrottle.recordFailure(keyID: grant.keyID, ip: clientIP, nowMs: now)
        {
            try? app.store.lockKey(id: grant.keyID, untilMs: untilMs)
            app.logger.warning(
                "security: key locked after repeated failed logins",
                metadata: ["key": "\(grant.keyID)", "ip": "\(clientIP)", "until_ms": "\(untilMs)"])
        }
        let accountID = (try? app.store.apiKey(id: grant.keyID))?.accountID
        app.risk.loginFailed(accountID: accountID, ip: clientIP, nowMs: now)
        app.monitor.loginFailed(ip: clientIP, keyID: grant.keyID, code: error.code)
        app.metrics.loginFailuresByCode.add(error.code.name)
        app.audit.record(
            "auth.login", actor: accountID ?? "unknown", credentialID: grant.keyID, clientIP: clientIP, outcome: .failure,
            details: ["code": error.code.name, "grant": "signature"])
        app.logger.notice(
            "login failed", metadata: ["connection": "\(id)", "ip": "\(clientIP)", "code": "\(error.code.name)"])
    }

    // MARK: Subscriptions

    private func subscribe(_ params: JSONObject) async throws(RPCError) -> ResultWriter {
        let reader = try ParamsReader(params, allowed: ["channels"])
        let limit = app.configuration.limits.maxSubscriptions
        guard let names = try reader.stringArray("channels", maxCount: limit, maxLength: 64), !names.isEmpty else {
            throw RPCError.invalidParams("channels", "required")
        }
        var topics: [SubscriptionTopic] = []
        for (index, name) in names.enumerated() {
            guard let topic = SubscriptionTopic(channel: name, accountID: session?.accountID) else {
                throw RPCError.invalidParams("channels[\(index)]", "unknown_channel")
            }
            if topic.isPrivate && session == nil { throw RPCError(.unauthenticated) }
            if case .publicMarket(_, let instrument) = topic.kind {
                guard let known = try? await app.venue.hasInstrument(instrument) else { throw RPCError.venueUnavailable }
                guard known else { throw RPCError(.unknownInstrument, field: "params.channels[\(index)]") }
            }
            topics.append(topic)
        }
        let newCount = Set(topics.map(\.key)).subtracting(subscriptions.keys).count
        guard subscriptions.count + newCount <= limit else {
            throw RPCError.invalidParams("channels", "too_many_subscriptions")
        }
        for topic in topics where subscriptions[topic.key] == nil {
            subscriptions[topic.key] = topic
            pendingTopics.append(topic)
        }
        let channels = topics.map(\.channel)
        return { w in
            w.beginObject()
            w.key("channels")
            w.beginArray()
            for channel in channels { w.string(channel) }
            w.endArray()
            w.endObject()
        }
    }

    private func unsubscribe(_ params: JSONObject) throws(RPCError) -> ResultWriter {
        let reader = try ParamsReader(params, allowed: ["channels"])
        let names = try reader.stringArray("channels", maxCount: 256, maxLength: 64) ?? []
        var removed: [String] = []
        for name in names {
            guard let topic = SubscriptionTopic(channel: name, accountID: session?.accountID),
                subscriptions.removeValue(forKey: topic.key) != nil
            else { continue }
            app.hub.unsubscribe(topic: topic.key, connectionID: id)
            removed.append(name)
        }
        let removedChannels = removed
        return { w in
            w.beginObject()
            w.key("channels")
            w.beginArray()
            for channel in removedChannels { w.string(channel) }
            w.endArray()
            w.endObject()
        }
    }

    private func dropPrivateSubscriptions() {
        for (key, topic) in subscriptions where topic.isPrivate {
            subscriptions.removeValue(forKey: key)
            app.hub.unsubscribe(topic: key, connectionID: id)
        }
    }

    // MARK: Private methods

    private func dispatchPrivate(_ request: RPCRequest, session: Session) async throws(RPCError) -> ResultWriter {
        guard let method = PrivateMethod(rawValue: request.method) else { throw RPCError(.methodNotFound) }
        guard method.isAllowed(by: session.scopes) else { throw RPCError(.forbidden) }
        guard requestMode?.satisfies(sealedPolicy) ?? (sealedPolicy == .none) else {
            throw RPCError(.sealedRequired, reason: "key_requires_\(sealedPolicy.rawValue)_frames")
        }
        switch method {
        case .sessionStatus:
            _ = try ParamsReader(request.params, allowed: [])
            let now = app.clock.nowMs()
            let bound = app.sessions.boundConnections(sessionID: session.id)
            let stepUp = app.risk.policy.decision(forScore: session.risk.score) != .allow
            let stepUpRequired = stepUp && session.assurance(atMs: now) != .aal2
            let rateLimits = rateLimitStatus(accountID: session.accountID, nowMs: now)
            return { w in
                Render.session(session, boundConnections: bound, stepUpRequired: stepUpRequired, nowMs: now, to: &w, extra: rateLimits)
            }
        case .sessionList:
            _ = try ParamsReader(request.params, allowed: [])
            let sessions = app.sessions.sessions(accountID: session.accountID).sorted { $0.createdMs < $1.createdMs }
            let now = app.clock.nowMs()
            let bound = sessions.map { app.sessions.boundConnections(sessionID: $0.id) }
            let current = session.id
            return { w in
                w.beginObject()
                w.key("sessions")
                w.beginArray()
                for (item, connections) in zip(sessions, bound) { Render.session(item, boundConnections: connections, nowMs: now, to: &w) }
                w.endArray()
                w.key("current")
                w.string(current)
                w.endObject()
            }
        case .sessionRevoke:
            let reader = try ParamsReader(request.params, allowed: ["session_id"])
            let target = try reader.requiredString("session_id", maxLength: 64)
            var revoked: [String] = []
            for other in app.sessions.sessions(accountID: session.accountID)
            where target == "others" ? other.id != session.id : other.id == target {
                if app.sessions.end(id: other.id, reason: .revoked, nowMs: app.clock.nowMs()) { revoked.append(other.id) }
            }
            if let cluster = app.clusterSessions {
                let sessions = app.sessions
                do {
                    revoked += try cluster.revokeRemote(
                        accountID: session.accountID, target: target, current: session.id, nowMs: app.clock.nowMs(),
                        isLocal: { sessions.session(id: $0) != nil || revoked.contains($0) })
                } catch {
                    app.logger.error("cluster session revoke failed", metadata: ["error": "\(error)"])
                    throw RPCError(.internalError, reason: "store_unavailable")
                }
            }
            guard target == "others" || !revoked.isEmpty else {
                throw RPCError.invalidParams("session_id", "unknown_session")
            }
            let revokedIDs = revoked
            return { w in
                w.beginObject()
                w.key("revoked")
                w.beginArray()
                for item in revokedIDs { w.string(item) }
                w.endArray()
                w.endObject()
            }
        case .logout:
            let reader = try ParamsReader(request.params, allowed: ["cancel_orders"])
            guard let cancelOrders = try reader.bool("cancel_orders") else {
                throw RPCError.invalidParams("cancel_orders", "required")
            }
            let cancelled = cancelOrders ? await app.venue.cancelAll(accountID: session.accountID, instrument: nil, nowMs: app.clock.nowMs()) : []
            app.sessions.end(id: session.id, reason: .logout, nowMs: app.clock.nowMs(), notify: false)
            app.protection.forget(sessionID: session.id)
            app.risk.sessionEnded(session.id)
            self.session = nil
            pendingKeys = .drop
            // An explicit logout says what to do with orders; no timer acts after it.
            deadMansSwitch?.cancel()
            deadMansSwitch = nil
            cancelOnDisconnect = nil
            dropPrivateSubscriptions()
            let count = cancelled.count
            return { w in
                w.beginObject()
                w.key("logged_out")
                w.bool(true)
                w.key("cancelled_orders")
                w.int(Int64(count))
                w.endObject()
            }
        case .cancelAllAfter:
            let reader = try ParamsReader(request.params, allowed: ["timeout_ms"])
            let timeout = try reader.requiredInt("timeout_ms", in: 0...86_400_000)
            guard timeout == 0 || timeout >= 1000 else { throw RPCError.invalidParams("timeout_ms", "zero_or_at_least_1000") }
            let triggerAt = armDeadMansSwitch(timeoutMs: timeout, session: session)
            return { w in
                w.beginObject()
                w.key("timeout_ms")
                w.int(timeout)
                if let triggerAt {
                    w.key("trigger_at_ms")
                    w.int(triggerAt)
                }
                w.endObject()
            }
        case .mfaVerify:
            return try verifyMFA(request.params, session: session)
        default:
            // A kill switch stops new exposure (place, amend); cancels stay possible.
            if method == .orderPlace || method == .orderAmend, app.killSwitches.halts(accountID: session.accountID, keyID: session.keyID) {
                throw RPCError(.tradingHalted, reason: "kill_switch")
            }
            if method == .orderPlace || method == .orderAmend, !app.audit.isWritable {
                throw RPCError(.tradingHalted, reason: "audit_unavailable")
            }
            var methods = OrderMethods(venue: app.venue, clock: app.clock, restrictions: keyRestrictions)
            methods.timing = OrderMethods.VenueTiming(timeoutMs: app.configuration.venue.timeoutMs, testDelayMs: app.configuration.venue.testDelayMs)
            let now = app.clock.nowMs()
            let gate = StepUpGate(
                orderNotionalThreshold: app.configuration.stepUpOrderNotional,
                riskDemandsStepUp: app.risk.enabled && app.risk.policy.decision(forScore: session.risk.score) != .allow,
                assurance: session.assurance(atMs: now), mfaEnrolled: { [mfa = app.mfa, account = session.accountID] in mfa.isEnrolled(accountID: account) })
            let (write, placed) = try await methods.handle(method, params: request.params, session: session, gate: gate)
            if let placed {
                trackPlaced(placed.orderID, session: session)
                if let notional = placed.notional, let value = Double(notional.description) {
                    app.risk.orderNotional(accountID: session.accountID, value: value, nowMs: now)
                }
            }
            return write
        }
    }

    // MARK: Protection against a vanished client

    /// Re-arms (or with 0 disarms) the dead-man's switch; returns when it will fire.
    private func armDeadMansSwitch(timeoutMs: Int64, session: Session) -> Int64? {
        deadMansSwitch?.cancel()
        deadMansSwitch = nil
        guard timeoutMs > 0 else { return nil }
        let app = self.app
        let connectionID = id
        deadMansSwitch = Task {
            try? await Task.sleep(for: .milliseconds(timeoutMs))
            guard !Task.isCancelled else { return }
            let cancelled = await app.venue.cancelAll(accountID: session.accountID, instrument: nil, nowMs: app.clock.nowMs())
            DisconnectProtection.report(
                app, type: "dead_mans_switch", sessionID: session.id, accountID: session.accountID, connectionID: connectionID,
                cancelled: cancelled.map(\.orderID))
        }
        return app.clock.nowMs() + timeoutMs
    }

    /// Starts the grace timer: a `connection` scope protects the orders placed over this
    /// connection; a `session` scope the session's orders, once its last connection is gone.
    private func armCancelOnDisconnect(_ protection: SignatureGrant.CancelOnDisconnect, session: Session, otherConnections: Int) {
        let orders: Set<String>
        switch protection.scope {
        case .connection: orders = placedOrders
        case .session:
            guard otherConnections == 0 else { return }
            orders = app.protection.ordersPlaced(inSession: session.id)
        }
        app.protection.arm(
            protection, sessionID: session.id, accountID: session.accountID, connectionID: id, orders: orders, app: app)
    }

    /// Remembers an order this connection placed (for cancel-on-disconnect); bounded by pruning
    /// orders that are no longer open.
    private func trackPlaced(_ orderID: String, session: Session) {
        placedOrders.insert(orderID)
        let sessionNeedsPruning = app.protection.recordPlaced(sessionID: session.id, orderID: orderID)
        guard placedOrders.count > DisconnectProtection.maxTrackedOrders || sessionNeedsPruning else { return }
        let app = self.app
        Task {
            // Prune only with a real answer: an unreachable venue must not empty the list.
            guard let orders = try? await app.venue.openOrders(accountID: session.accountID) else { return }
            let open = Set(orders.map(\.orderID))
            app.protection.prune(sessionID: session.id, keeping: open)
            await self.prunePlaced(keeping: open)
        }
    }

    private func prunePlaced(keeping open: Set<String>) { placedOrders.formIntersection(open) }

    // MARK: MFA step-up

    /// `private/mfa.verify {code}`: a TOTP code (or a recovery code) raises the session to `aal2`
    /// for `session.step_up_ttl_ms`.
    private func verifyMFA(_ params: JSONObject, session: Session) throws(RPCError) -> ResultWriter {
        let reader = try ParamsReader(params, allowed: ["code"])
        let code = try reader.requiredString("code", maxLength: 64)
        let now = app.clock.nowMs()
        switch app.mfa.verify(accountID: session.accountID, code: code, nowMs: now) {
        case .success(let method):
            guard let raised = app.sessions.recordStepUp(id: session.id, nowMs: now) else { throw RPCError(.sessionExpired) }
            app.risk.reassess(sessionID: session.id, nowMs: now)
            let current = app.sessions.session(id: session.id) ?? raised
            self.session = current
            app.logger.notice(
                "security: MFA step-up", metadata: ["session_hash": "\(SessionHash.of(session.id))", "method": "\(method.rawValue)"])
            app.audit.record(
                "mfa.verify", actor: session.accountID, credentialID: session.keyID, sessionID: session.id, clientIP: clientIP, outcome: .success,
                details: ["method": method.rawValue])
            return { w in
                w.beginObject()
                w.key("assurance")
                w.string(current.assurance(atMs: now).rawValue)
                w.key("method")
                w.string(method.rawValue)
                w.key("step_up_until_ms")
                w.int(current.stepUpUntilMs ?? now)
                w.key("risk")
                Render.risk(current.risk, to: &w)
                w.endObject()
            }
        case .failure(let refusal):
            app.logger.notice(
                "security: MFA step-up refused", metadata: ["session_hash": "\(SessionHash.of(session.id))", "refusal": "\(refusal)"])
            app.audit.record(
                "mfa.verify", actor: session.accountID, credentialID: session.keyID, sessionID: session.id, clientIP: clientIP, outcome: .failure,
                details: ["refusal": "\(refusal)"])
            switch refusal {
            case .notEnrolled: throw RPCError(.mfaInvalid, reason: "mfa_not_enrolled")
            case .invalid: throw RPCError(.mfaInvalid)
            case .throttled(let retryAfterMs): throw RPCError(.rateLimited, retryAfterMs: retryAfterMs, bucket: "mfa")
            case .locked(let untilMs): throw RPCError(.mfaInvalid, reason: "mfa_locked", untilMs: untilMs)
            }
        }
    }
}

/// Session ids never appear in logs; a short hash lets operators correlate lines.
enum SessionHash {
    static func of(_ sessionID: String) -> String {
        let digest = SHA256.hash(data: Array(sessionID.utf8))
        return digest.prefix(6).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
