import BulwarkAuth
import BulwarkCore

/// The `public/auth` params of the signature grant (PROTOCOL.md §4): the signing string comes from
/// `BulwarkCore.SigningString`, the same code the gateway verifies with.
public struct SignatureLoginRequest: Sendable {
    public var keyID: String
    /// nil: all of the key's scopes (the signed scope line is then empty).
    public var scopes: [String]?
    /// `cancel_on_disconnect`: `connection` or `session`, with a grace period.
    public var cancelOnDisconnect: (scope: String, graceMs: Int64)?
    /// `resume`: re-attach this connection to a live session, replaying private events after the seq.
    public var resume: (sessionID: String, lastPrivateSeq: Int64)?

    public init(keyID: String, scopes: [String]? = nil) {
        self.keyID = keyID
        self.scopes = scopes
    }

    /// Signs for `challenge` (the connection's newest) and returns the params object.
    /// `timestampMs` should be the server's time (local time corrected by the measured skew).
    public func params(
        signer: any RequestSigner, challenge: String, timestampMs: Int64, nonce: String = Base64URL.encode(SecureRandom.bytes(count: 16)),
        keyExchange: KeyExchangeOffer? = nil
    ) throws -> JSONObject {
        let text = SigningString(
            keyID: keyID, challenge: challenge, timestampMs: timestampMs, nonce: nonce, scopes: scopes, keyExchangeHash: keyExchange?.hash)
        var members: [(key: String, value: JSONValue)] = [
            ("grant_type", .string("signature")), ("key_id", .string(keyID)), ("timestamp_ms", .int(timestampMs)),
            ("nonce", .string(nonce)),
        ]
        if let scopes { members.append(("scopes", .array(scopes.map { .string($0) }))) }
        if let keyExchange {
            var kx: [(key: String, value: JSONValue)] = [("x25519", .string(Base64URL.encode(keyExchange.x25519)))]
            if let mlkem = keyExchange.mlkem768 { kx.append(("mlkem768", .string(Base64URL.encode(mlkem)))) }
            members.append(("kx", .object(JSONObject(kx))))
        }
        if let cancelOnDisconnect {
            members.append(
                ("cancel_on_disconnect", .object(["scope": .string(cancelOnDisconnect.scope), "grace_ms": .int(cancelOnDisconnect.graceMs)])))
        }
        if let resume {
            members.append(
                ("resume", .object(["session_id": .string(resume.sessionID), "last_private_seq": .int(resume.lastPrivateSeq)])))
        }
        members.append(("signature", .string(Base64URL.encode(try signer.sign(text.bytes)))))
        return JSONObject(members)
    }
}

extension JSONValue {
    /// An integer number.
    public static func int(_ value: Int64) -> JSONValue { .number(JSONNumber(value)) }
    public static func int(_ value: Int) -> JSONValue { .number(JSONNumber(Int64(value))) }
}
