/// Per-connection limits of the WebSocket data plane. Every one has a number, a close code or
/// error, and a line in docs/operations.md.
public struct ConnectionLimits: Sendable {
    public var maxMessageBytes: Int
    public var maxFrameBytes: Int
    public var maxFragments: Int
    public var maxSubscriptions: Int
    public var maxInFlight: Int
    public var handshakeDeadlineMs: Int64
    public var authDeadlineMs: Int64
    public var pingIntervalMs: Int64
    public var pongTimeoutMs: Int64
    public var maxHandshakeHeaderBytes: Int
    public var maxHandshakeHeaders: Int
    /// Bytes one connection's outbound queue may hold beyond what the socket accepts.
    public var maxOutboundBytes: Int

    public init(
        maxMessageBytes: Int = 65536, maxFrameBytes: Int = 65536, maxFragments: Int = 64, maxSubscriptions: Int = 64,
        maxInFlight: Int = 32, handshakeDeadlineMs: Int64 = 5000, authDeadlineMs: Int64 = 30000,
        pingIntervalMs: Int64 = 20000, pongTimeoutMs: Int64 = 20000, maxHandshakeHeaderBytes: Int = 8192,
        maxHandshakeHeaders: Int = 48, maxOutboundBytes: Int = 1 << 20
    ) {
        self.maxMessageBytes = maxMessageBytes
        self.maxFrameBytes = maxFrameBytes
        self.maxFragments = maxFragments
        self.maxSubscriptions = maxSubscriptions
        self.maxInFlight = maxInFlight
        self.handshakeDeadlineMs = handshakeDeadlineMs
        self.authDeadlineMs = authDeadlineMs
        self.pingIntervalMs = pingIntervalMs
        self.pongTimeoutMs = pongTimeoutMs
        self.maxHandshakeHeaderBytes = maxHandshakeHeaderBytes
        self.maxHandshakeHeaders = maxHandshakeHeaders
        self.maxOutboundBytes = maxOutboundBytes
    }

    func validate() throws {
        let positive: [(String, Int64)] = [
            ("ws.max_message_bytes", Int64(maxMessageBytes)), ("ws.max_frame_bytes", Int64(maxFrameBytes)),
            ("ws.max_fragments", Int64(maxFragments)), ("ws.max_subscriptions", Int64(maxSubscriptions)),
            ("ws.max_in_flight", Int64(maxInFlight)), ("ws.handshake_deadline_ms", handshakeDeadlineMs),
            ("ws.auth_deadline_ms", authDeadlineMs), ("ws.ping_interval_ms", pingIntervalMs),
            ("ws.pong_timeout_ms", pongTimeoutMs), ("ws.max_handshake_header_bytes", Int64(maxHandshakeHeaderBytes)),
            ("ws.max_handshake_headers", Int64(maxHandshakeHeaders)), ("ws.max_outbound_bytes", Int64(maxOutboundBytes)),
        ]
        for (key, value) in positive where value <= 0 {
            throw ConfigurationError("\(key) must be positive")
        }
        guard maxMessageBytes <= 16 << 20, maxFrameBytes <= 16 << 20 else {
            throw ConfigurationError("ws.max_message_bytes and ws.max_frame_bytes are at most 16 MiB")
        }
        // A request line and the headers every browser sends must fit.
        guard maxHandshakeHeaderBytes >= 1024, maxHandshakeHeaders >= 8 else {
            throw ConfigurationError("ws.max_handshake_header_bytes must be at least 1024 and ws.max_handshake_headers at least 8")
        }
        // The largest response must fit, or every large reply would end the connection with 4004.
        guard maxOutboundBytes >= maxMessageBytes else {
            throw ConfigurationError("ws.max_outbound_bytes must be at least ws.max_message_bytes")
        }
    }
}
