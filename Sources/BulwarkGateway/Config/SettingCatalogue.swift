/// Every configuration key the gateway reads, with its type, default and meaning.
///
/// One list drives reading, validation (unknown keys and malformed values are startup errors, not
/// silently ignored) and the reference table in docs/operations.md (`bulwark config reference`).
public struct SettingSpec: Sendable {
    public enum Kind: String, Sendable {
        case int
        case string
        case bool
        case stringList = "string list"
    }

    public let key: String
    public let kind: Kind
    public let defaultValue: String
    public let help: String

    /// The environment variable that overrides this key: `BULWARK_` + key, dots as underscores.
    public var environmentName: String {
        "BULWARK_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }
}

public enum SettingCatalogue {
    public static let all: [SettingSpec] = base + RateLimitSettings.catalogue + tail

    private static let base: [SettingSpec] = [
        SettingSpec(key: "data", kind: .string, defaultValue: ".bulwark", help: "Data folder: database, TLS material, keys."),
        SettingSpec(key: "store.url", kind: .string, defaultValue: "", help: "The database: empty uses SQLite in DATA/bulwark.sqlite (one node); postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=verify-full&sslrootcert=CA.pem shares one PostgreSQL database between gateway nodes (docs/operations.md, Scale-out). Operator commands read it from BULWARK_STORE_URL."),
        SettingSpec(key: "cluster.rate_sync_ms", kind: .int, defaultValue: "200", help: "With a shared PostgreSQL store: how often nodes exchange per-account rate-limit spending (50-5000; the over-admission bound grows with it, docs/rate-limits.md)."),
        SettingSpec(key: "cluster.node_id", kind: .string, defaultValue: "", help: "This node's name in a cluster (sessions it held are closed when it restarts); empty: HOSTNAME:DATA."),
        SettingSpec(key: "listen", kind: .string, defaultValue: "127.0.0.1:8443", help: "Public listener HOST:PORT (port 0 picks a free port)."),
        SettingSpec(key: "tls.enabled", kind: .bool, defaultValue: "true", help: "TLS on the public listener. Disabling it is refused unless the listener is on loopback."),
        SettingSpec(key: "tls.min_version", kind: .string, defaultValue: "1.3", help: "Lowest TLS version: 1.3, or 1.2 (then ECDHE+AEAD suites only)."),
        SettingSpec(key: "tls.cert_file", kind: .string, defaultValue: "", help: "PEM certificate chain; empty uses the development certificate in DATA/tls."),
        SettingSpec(key: "tls.key_file", kind: .string, defaultValue: "", help: "PEM private key for tls.cert_file."),
        SettingSpec(key: "tls.client_auth", kind: .string, defaultValue: "none", help: "Client certificates on the public listener: none, optional (requested; keys pinned to a certificate need it) or required."),
        SettingSpec(key: "tls.client_ca_file", kind: .string, defaultValue: "", help: "PEM bundle of the CAs that issue client certificates (needed unless tls.client_auth is none)."),
        SettingSpec(key: "tls.crl_files", kind: .stringList, defaultValue: "", help: "CRL files (PEM or DER, comma-separated), each signed by a client CA; revoked client certificates are refused."),
        SettingSpec(key: "admin.listen", kind: .string, defaultValue: "", help: "Admin listener HOST:PORT (/admin/v1, mutual TLS always); empty: no admin listener."),
        SettingSpec(key: "admin.client_ca_file", kind: .string, defaultValue: "", help: "PEM bundle of the CAs that issue operator certificates (required with admin.listen)."),
        SettingSpec(key: "admin.crl_files", kind: .stringList, defaultValue: "", help: "CRL files for operator certificates (PEM or DER, comma-separated)."),
        SettingSpec(key: "ws.max_message_bytes", kind: .int, defaultValue: "65536", help: "Largest WebSocket message (after reassembly); beyond it the connection closes with 1009."),
        SettingSpec(key: "ws.max_frame_bytes", kind: .int, defaultValue: "65536", help: "Largest single WebSocket frame; beyond it the connection closes with 1009."),
        SettingSpec(key: "ws.max_fragments", kind: .int, defaultValue: "64", help: "Most frames one message may be split into; beyond it the connection closes with 1009."),
        SettingSpec(key: "ws.max_subscriptions", kind: .int, defaultValue: "64", help: "Most channels one connection may subscribe to (invalid_params beyond)."),
        SettingSpec(key: "ws.max_in_flight", kind: .int, defaultValue: "32", help: "Requests a connection may have queued and unanswered; beyond it requests get rate_limited (bucket in_flight)."),
        SettingSpec(key: "ws.handshake_deadline_ms", kind: .int, defaultValue: "5000", help: "Time from TCP accept to a finished WebSocket upgrade; slower connections are dropped."),
        SettingSpec(key: "ws.auth_deadline_ms", kind: .int, defaultValue: "30000", help: "Time from hello to a successful public/auth; then close 1008."),
        SettingSpec(key: "ws.ping_interval_ms", kind: .int, defaultValue: "20000", help: "Server ping interval."),
        SettingSpec(key: "ws.pong_timeout_ms", kind: .int, defaultValue: "20000", help: "Silence after a ping before the connection is dropped."),
        SettingSpec(key: "ws.max_handshake_header_bytes", kind: .int, defaultValue: "8192", help: "Largest HTTP request header block (request line and headers) on the public listener; beyond it 431."),
        SettingSpec(key: "ws.max_handshake_headers", kind: .int, defaultValue: "48", help: "Most header fields in one request on the public listener; beyond it 400."),
        SettingSpec(key: "ws.max_outbound_bytes", kind: .int, defaultValue: "1048576", help: "Outbound queue bound per connection, beyond what the socket takes: public data is dropped (books resynchronised), private data that does not fit closes with 4004."),
        SettingSpec(key: "ws.conformance_echo", kind: .bool, defaultValue: "false", help: "Serve the RFC 6455 conformance echo on GET /ws/echo (raised limits, no authentication); for conformance testing only."),
        SettingSpec(key: "ws.allowed_origins", kind: .stringList, defaultValue: "", help: "Exact Origin values allowed to upgrade when a browser sends Origin (comma-separated); empty allows none."),
        SettingSpec(key: "net.trusted_proxies", kind: .stringList, defaultValue: "", help: "CIDRs of proxies whose X-Forwarded-For (or PROXY v2 header) names the client IP (comma-separated); empty: the socket peer is the client."),
        SettingSpec(key: "net.proxy_protocol", kind: .bool, defaultValue: "false", help: "Require a PROXY protocol v2 header on connections from net.trusted_proxies (HAProxy send-proxy-v2)."),
        SettingSpec(key: "metrics.public", kind: .bool, defaultValue: "false", help: "Also serve GET /metrics (Prometheus text) on the public listener; the admin listener always serves /admin/v1/metrics."),
        SettingSpec(key: "auth.recv_window_ms", kind: .int, defaultValue: "5000", help: "Accepted clock skew of timestamp_ms in public/auth (at most 60000)."),
        SettingSpec(key: "auth.hmac_enabled", kind: .bool, defaultValue: "false", help: "Allow logins with legacy hmac-sha256 keys (their secrets are sealed with the master key)."),
        SettingSpec(key: "secrets.master_key_file", kind: .string, defaultValue: "", help: "32-byte base64url master key sealing secrets at rest (AES-256-GCM); empty: DATA/keys/master.key, created at first start."),
        SettingSpec(key: "auth.throttle_free_failures", kind: .int, defaultValue: "3", help: "Consecutive failed logins (per key id and per IP) before each further attempt must wait."),
        SettingSpec(key: "auth.throttle_ip_free_failures", kind: .int, defaultValue: "10", help: "The same for one client IP (higher: many clients can share an address)."),
        SettingSpec(key: "auth.throttle_base_delay_ms", kind: .int, defaultValue: "500", help: "First wait after the free failures; doubles with each further failure."),
        SettingSpec(key: "auth.throttle_max_delay_ms", kind: .int, defaultValue: "30000", help: "Longest wait between failed logins."),
        SettingSpec(key: "auth.lockout_failures", kind: .int, defaultValue: "20", help: "Consecutive failed logins that lock a key (at most 100, NIST SP 800-63B)."),
        SettingSpec(key: "auth.lockout_ms", kind: .int, defaultValue: "1800000", help: "How long a locked key stays locked unless an operator runs `keys unlock`."),
        SettingSpec(key: "session.idle_timeout_ms", kind: .int, defaultValue: "1800000", help: "Idle session timeout (capped at 1 h, NIST SP 800-63B-4 AAL2)."),
        SettingSpec(key: "session.absolute_timeout_ms", kind: .int, defaultValue: "43200000", help: "Absolute session lifetime (capped at 24 h, NIST SP 800-63B-4 AAL2)."),
        SettingSpec(key: "session.warning_lead_ms", kind: .int, defaultValue: "60000", help: "`session.expiring` is sent this long before a session's deadline (at least 10000)."),
        SettingSpec(key: "session.max_per_account", kind: .int, defaultValue: "20", help: "Live sessions one account may hold on this node."),
        SettingSpec(key: "session.on_limit", kind: .string, defaultValue: "evict_oldest", help: "At the limit: evict_oldest (the oldest session ends, 4002) or refuse (the new login gets forbidden, too_many_sessions)."),
        SettingSpec(key: "session.replay_events", kind: .int, defaultValue: "1024", help: "Private events (orders, fills, balances, session) kept per account for resume; older ones cannot be replayed (replay_complete false)."),
        SettingSpec(key: "session.step_up_ttl_ms", kind: .int, defaultValue: "900000", help: "How long a TOTP step-up (private/mfa.verify) keeps a session at aal2."),
        SettingSpec(key: "mfa.issuer", kind: .string, defaultValue: "Bulwark", help: "Issuer shown by authenticator apps for TOTP enrolments."),
        SettingSpec(key: "mfa.step_up_order_notional", kind: .string, defaultValue: "1000000", help: "Orders (place, amend) at or above this notional (price x qty, quote units) need a fresh TOTP step-up; empty disables."),
        SettingSpec(key: "mfa.throttle_free_failures", kind: .int, defaultValue: "3", help: "Consecutive wrong TOTP codes before each further attempt must wait (1 s, doubling to 30 s)."),
        SettingSpec(key: "mfa.lockout_failures", kind: .int, defaultValue: "10", help: "Consecutive wrong TOTP codes that lock the factor (at most 100, NIST SP 800-63B)."),
        SettingSpec(key: "mfa.lockout_ms", kind: .int, defaultValue: "900000", help: "How long a locked TOTP factor stays locked unless an operator runs `mfa unlock`."),
        SettingSpec(key: "risk.enabled", kind: .bool, defaultValue: "true", help: "Risk-adaptive sessions: scores shorten timeouts, require step-up, end sessions (docs/risk-engine.md)."),
        SettingSpec(key: "risk.step_up_threshold", kind: .string, defaultValue: "0.5", help: "Risk score from which privileged actions need a TOTP step-up (mfa_required)."),
        SettingSpec(key: "risk.kill_threshold", kind: .string, defaultValue: "0.85", help: "Risk score from which the session ends (session.terminated reason risk, close 4002)."),
        SettingSpec(key: "risk.timeout_exponent", kind: .string, defaultValue: "2", help: "k in timeout = base x (1 - score)^k."),
        SettingSpec(key: "risk.min_idle_timeout_ms", kind: .int, defaultValue: "60000", help: "Floor of the risk-shortened idle timeout."),
        SettingSpec(key: "risk.min_absolute_timeout_ms", kind: .int, defaultValue: "600000", help: "Floor of the risk-shortened absolute lifetime."),
        SettingSpec(key: "risk.rate_window_ms", kind: .int, defaultValue: "10000", help: "Window in which requests are counted for the account's request-rate baseline (EWMA)."),
        SettingSpec(key: "log.format", kind: .string, defaultValue: "text", help: "Log lines as text, or json (one object per line with ts, level, label, message, metadata) for log shippers."),
        SettingSpec(key: "alerts.webhook_url", kind: .string, defaultValue: "", help: "Security alerts are POSTed here as JSON (retried 4 times with doubling waits); empty: logs and audit only."),
        SettingSpec(key: "detect.auto_block", kind: .bool, defaultValue: "true", help: "Detection rules that find credential stuffing or Origin probing block the address for detect.auto_block_ms."),
        SettingSpec(key: "detect.auto_block_ms", kind: .int, defaultValue: "900000", help: "How long an automatic address block lasts."),
        SettingSpec(key: "detect.never_block", kind: .stringList, defaultValue: "127.0.0.1,::1", help: "Addresses or CIDRs never blocked automatically (proxies, local clients); operators can still block them by hand."),
        SettingSpec(key: "oauth.issuer", kind: .string, defaultValue: "", help: "`iss` of the gateway's access tokens and base URL of its OAuth endpoints (https://HOST:PORT, no trailing slash); empty: derived from the listener."),
        SettingSpec(key: "oauth.audience", kind: .string, defaultValue: "", help: "`aud` of the gateway's access tokens (the gateway as a resource server); empty: the issuer."),
        SettingSpec(key: "oauth.access_token_ttl_s", kind: .int, defaultValue: "900", help: "Access-token lifetime in seconds (at most 3600; FAPI suggests short-lived tokens)."),
        SettingSpec(key: "oauth.refresh_token_ttl_ms", kind: .int, defaultValue: "86400000", help: "Absolute lifetime of a refresh-token family (rotation never extends it); 0: no refresh tokens."),
        SettingSpec(key: "oauth.require_dpop", kind: .bool, defaultValue: "false", help: "Issue only DPoP-bound access tokens (FAPI 2.0): token requests without a DPoP proof are refused."),
        SettingSpec(key: "oauth.require_dpop_nonce", kind: .bool, defaultValue: "false", help: "Token requests' DPoP proofs must carry a server nonce (use_dpop_nonce, DPoP-Nonce header)."),
        SettingSpec(key: "oauth.dpop_max_age_s", kind: .int, defaultValue: "60", help: "Oldest accepted DPoP proof `iat`, in seconds (proofs 10 s in the future are accepted, more are not)."),
        SettingSpec(key: "oauth.signing_alg", kind: .string, defaultValue: "EdDSA", help: "Algorithm of new token-signing keys: EdDSA (Ed25519) or ES256."),
        SettingSpec(key: "oauth.key_rotation_days", kind: .int, defaultValue: "30", help: "The token-signing key is replaced at start when older than this (old keys stay in the JWKS while their tokens live); 0: never automatically."),
        SettingSpec(key: "oauth.external_issuers_file", kind: .string, defaultValue: "", help: "JSON file of external OpenID Connect issuers whose access tokens the bearer grant accepts (docs/oauth.md)."),
        SettingSpec(key: "oauth.issuers_ca_file", kind: .string, defaultValue: "", help: "PEM CA bundle trusted, besides the system's, when fetching external issuers' discovery documents and JWKS."),
    ]

    private static let tail: [SettingSpec] = [
        SettingSpec(key: "shutdown.drain_ms", kind: .int, defaultValue: "3000", help: "On SIGTERM: time between server.shutdown and the 1001 close."),
        SettingSpec(key: "demo.enabled", kind: .bool, defaultValue: "true", help: "Seed the demo market: instruments, a demo account and key, and resting house liquidity."),
        SettingSpec(key: "demo.liquidity_interval_ms", kind: .int, defaultValue: "1000", help: "With demo.enabled: every this many ms the liquidity simulator moves one instrument's house quotes (0 disables it)."),
        SettingSpec(key: "venue.url", kind: .string, defaultValue: "", help: "Empty: the built-in venue runs in this process. grpc://HOST:PORT (plaintext: loopback or a private network only) or grpcs://HOST:PORT (TLS): use the venue process `bulwark venue` serves there (docs/operations.md). The venue.journal, venue.max_open_*, market.book_depth and demo liquidity settings then belong to the venue process."),
        SettingSpec(key: "venue.tls_ca_file", kind: .string, defaultValue: "", help: "With a grpcs:// venue.url: PEM CA bundle that issued the venue's certificate (empty: the system's roots)."),
        SettingSpec(key: "venue.tls_cert_file", kind: .string, defaultValue: "", help: "With a grpcs:// venue.url: this gateway's client certificate chain (PEM) for a venue that requires mutual TLS; needs venue.tls_key_file."),
        SettingSpec(key: "venue.tls_key_file", kind: .string, defaultValue: "", help: "The private key (PEM) of venue.tls_cert_file."),
        SettingSpec(key: "venue.journal", kind: .string, defaultValue: "fsync", help: "The built-in venue's order journal (DATA/venue-journal.sqlite): fsync (each operation synced before its reply), process (written, not synced: survives a process crash only) or off (orders in memory only, lost at restart)."),
        SettingSpec(key: "venue.timeout_ms", kind: .int, defaultValue: "5000", help: "Longest wait for the venue's answer to order.place; then the reply says status unknown and the outcome follows on the orders channel."),
        SettingSpec(key: "venue.test_delay_ms", kind: .int, defaultValue: "0", help: "TEST ONLY: delays every order.place this long before it reaches the venue (exercises venue.timeout_ms). Keep 0 in production."),
        SettingSpec(key: "venue.max_open_orders", kind: .int, defaultValue: "500", help: "Most resting orders per account (risk_limit, reason max_open_orders); 0: no limit."),
        SettingSpec(key: "venue.max_open_notional", kind: .string, defaultValue: "", help: "Largest total notional (price x remaining qty, quote units) of one account's resting orders (risk_limit, reason max_open_notional); empty: no limit."),
        SettingSpec(key: "market.book_depth", kind: .int, defaultValue: "50", help: "Price levels per side on book.* channels (snapshot and deltas describe exactly the best N); 0: every level."),
    ]

    public static func spec(_ key: String) -> SettingSpec? { all.first { $0.key == key } }

    /// The reference table for docs/operations.md.
    public static func markdownTable() -> String {
        var lines = ["| key | environment | type | default | meaning |", "|---|---|---|---|---|"]
        for spec in all {
            let shownDefault = spec.defaultValue.isEmpty ? "(empty)" : "`\(spec.defaultValue)`"
            lines.append("| `\(spec.key)` | `\(spec.environmentName)` | \(spec.kind.rawValue) | \(shownDefault) | \(spec.help) |")
        }
        return lines.joined(separator: "\n")
    }
}
