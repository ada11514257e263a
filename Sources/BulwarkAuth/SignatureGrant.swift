import BulwarkCore

/// The `public/auth` parameters of the signature grant (PROTOCOL.md §4.1), validated for shape.
public struct SignatureGrant: Sendable {
    public let keyID: String
    public let timestampMs: Int64
    public let nonce: String
    public let scopes: [String]?
    public let signature: [UInt8]
    public let cancelOnDisconnect: CancelOnDisconnect?
    public let resume: Resume?
    /// Session-key agreement requested with the login (PROTOCOL.md §5).
    public let keyExchange: KeyExchangeOffer?

    /// `resume`: re-attach to a live session after a reconnect (PROTOCOL.md §4.3).
    public struct Resume: Sendable, Equatable {
        public let sessionID: String
        /// The last private event the client saw; events after it are replayed (session keys milestone).
        public let lastPrivateSeq: Int64

        public init(sessionID: String, lastPrivateSeq: Int64) {
            self.sessionID = sessionID
            self.lastPrivateSeq = lastPrivateSeq
        }
    }

    /// `cancel_on_disconnect`: cancel open orders when the connection drops, after a grace period.
    public struct CancelOnDisconnect: Sendable, Equatable {
        public enum Scope: String, Sendable {
            /// Orders placed over this connection.
            case connection
            /// Orders placed in this session, over any of its connections; fires only when the
            /// session's last connection is gone and no resume came within the grace period.
            case session
        }

        public let scope: Scope
        public let graceMs: Int64
        public static let maxGraceMs: Int64 = 300_000

        public init(scope: Scope, graceMs: Int64) {
            self.scope = scope
            self.graceMs = graceMs
        }
    }

    public static let allowedMembers: Set<String> = [
        "grant_type", "key_id", "timestamp_ms", "nonce", "scopes", "signature", "kx", "cancel_on_disconnect",
        "resume",
    ]
    public static let nonceBytes = 16...48
    /// Large enough for ML-DSA-65 (3309 bytes, 4412 in base64url).
    public static let maxSignatureText = 4600

    public init(
        keyID: String, timestampMs: Int64, nonce: String, scopes: [String]?, signature: [UInt8],
        cancelOnDisconnect: CancelOnDisconnect? = nil, resume: Resume? = nil, keyExchange: KeyExchangeOffer? = nil
    ) {
        self.keyID = keyID
        self.timestampMs = timestampMs
        self.nonce = nonce
        self.scopes = scopes
        self.signature = signature
        self.cancelOnDisconnect = cancelOnDisconnect
        self.resume = resume
        self.keyExchange = keyExchange
    }

    public init(params: ParamsReader) throws(RPCError) {
        keyID = try params.requiredString("key_id", maxLength: 64)
        timestampMs = try params.requiredInt("timestamp_ms", in: 0...(1 << 53))
        nonce = try params.requiredString("nonce", maxLength: 64)
        guard let nonceBytes = Base64URL.decode(nonce), Self.nonceBytes.contains(nonceBytes.count) else {
            throw .invalidParams("nonce", "expected_b64u_16_to_48_bytes")
        }
        scopes = try params.stringArray("scopes", maxCount: Scope.allCases.count, maxLength: 16)
        let signatureText = try params.requiredString("signature", maxLength: Self.maxSignatureText)
        guard let signature = Base64URL.decode(signatureText) else {
            throw .invalidParams("signature", "expected_b64u")
        }
        self.signature = signature
        if let object = try params.object("cancel_on_disconnect") {
            let reader = try ParamsReader(object, allowed: ["scope", "grace_ms"], path: "cancel_on_disconnect.")
            guard let scope = try reader.enumValue("scope", as: CancelOnDisconnect.Scope.self) else {
                throw .invalidParams("cancel_on_disconnect.scope", "required")
            }
            let grace = try reader.int("grace_ms", in: 0...CancelOnDisconnect.maxGraceMs) ?? 0
            cancelOnDisconnect = CancelOnDisconnect(scope: scope, graceMs: grace)
        } else {
            cancelOnDisconnect = nil
        }
        if let object = try params.object("resume") {
            let reader = try ParamsReader(object, allowed: ["session_id", "last_private_seq"], path: "resume.")
            resume = Resume(
                sessionID: try reader.requiredString("session_id", maxLength: 64),
                lastPrivateSeq: try reader.int("last_private_seq", in: 0...(1 << 53)) ?? 0)
        } else {
            resume = nil
        }
        if let object = try params.object("kx") {
            keyExchange = try KeyExchangeOffer(params: try ParamsReader(object, allowed: KeyExchangeOffer.allowedMembers, path: "kx."))
        } else {
            keyExchange = nil
        }
    }

    public func signingString(challenge: String) -> SigningString {
        SigningString(
            keyID: keyID, challenge: challenge, timestampMs: timestampMs, nonce: nonce, scopes: scopes,
            keyExchangeHash: keyExchange?.hash)
    }
}
