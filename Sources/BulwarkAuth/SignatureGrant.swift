import BulwarkCore

/// The `public/auth` parameters of the signature grant (PROTOCOL.md §4.1), validated for shape.
public struct SignatureGrant: Sendable {
    public let keyID: String
    public let timestampMs: Int64
    public let nonce: String
    public let scopes: [String]?
    public let signature: [UInt8]

    public static let allowedMembers: Set<String> = [
        "grant_type", "key_id", "timestamp_ms", "nonce", "scopes", "signature", "kx", "cancel_on_disconnect",
        "resume",
    ]
    public static let nonceBytes = 16...48
    /// Large enough for ML-DSA-65 (3309 bytes, 4412 in base64url).
    public static let maxSignatureText = 4600

    public init(keyID: String, timestampMs: Int64, nonce: String, scopes: [String]?, signature: [UInt8]) {
        self.keyID = keyID
        self.timestampMs = timestampMs
        self.nonce = nonce
        self.scopes = scopes
        self.signature = signature
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
        // Session keys, cancel-on-disconnect and resume belong to later milestones; refusing them
        // explicitly is better than a login that silently lacks what the client asked for.
        for member in ["kx", "cancel_on_disconnect", "resume"] where params.has(member) {
            throw .invalidParams(member, "not_supported_yet")
        }
    }

    public func signingString(challenge: String) -> SigningString {
        SigningString(
            keyID: keyID, challenge: challenge, timestampMs: timestampMs, nonce: nonce, scopes: scopes,
            keyExchangeHash: nil)
    }
}
