import BulwarkAuth
import BulwarkCore
import Crypto
import NIOCore
import NIOPosix

/// How a `BulwarkClient` connects and behaves.
public struct ClientConfiguration: Sendable {
    public var endpoint: Endpoint
    /// The gateway identity's Ed25519 public key (`bulwark identity`), pinned for session keys: a
    /// `kx` answer not signed by it is refused. nil skips the check (loopback development only).
    public var identityPublicKey: Curve25519.Signing.PublicKey?
    /// Reconnect and resume the session after the connection drops.
    public var reconnect = true
    public var backoffInitialMs: Int64 = 100
    public var backoffMaxMs: Int64 = 10_000
    /// How often a `rate_limited` answer is waited out (`retry_after_ms`) and the request sent again.
    public var rateLimitRetries = 3
    public var requestTimeout: Duration = .seconds(10)
    /// Measure the clock offset with `public/time` on every connect (login timestamps use it).
    public var measureClockOnConnect = true
    /// Our clock (tests inject one).
    public var clock: any WallClock = SystemClock()
    public var eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    /// Largest message accepted from the gateway.
    public var maxMessageBytes = 1 << 20

    public init(endpoint: Endpoint, identityPublicKey: Curve25519.Signing.PublicKey? = nil) {
        self.endpoint = endpoint
        self.identityPublicKey = identityPublicKey
    }

    /// `url` like `wss://127.0.0.1:8443/ws/v1`, `caFile` the PEM CA to trust, `identity` the
    /// base64url public key `bulwark identity` prints.
    public init(url: String, caFile: String? = nil, identity: String? = nil) throws {
        self.init(endpoint: try Endpoint(url: url, caFile: caFile))
        if let identity {
            guard let raw = Base64URL.decode(identity) else { throw Endpoint.Invalid(description: "identity: expected base64url") }
            identityPublicKey = try Curve25519.Signing.PublicKey(rawRepresentation: raw)
        }
    }
}

/// How session keys seal private requests (PROTOCOL.md §5).
public struct SessionKeyOptions: Sendable {
    public var mode: SealedFrameMode
    /// X25519 + ML-KEM-768 instead of X25519 alone.
    public var hybrid: Bool

    public init(mode: SealedFrameMode = .aead, hybrid: Bool = true) {
        self.mode = mode
        self.hybrid = hybrid
    }
}
