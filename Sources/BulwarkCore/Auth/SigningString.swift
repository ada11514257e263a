import Crypto

/// The exact string a client signs in the signature grant (PROTOCOL.md §4.1).
///
/// Every input that changes what the login grants is inside the signature: the connection's
/// challenge (so a captured login is useless on another socket), the time and nonce (replay), the
/// requested scopes (so a proxy cannot widen them) and the key-exchange shares (so a
/// man-in-the-middle cannot substitute its own).
public struct SigningString: Sendable, Equatable {
    public static let version = "BULWARK-AUTH-1"

    public let text: String

    public init(
        keyID: String, challenge: String, timestampMs: Int64, nonce: String, scopes: [String]?,
        keyExchangeHash: String?
    ) {
        let scopeLine = (scopes ?? []).sorted().joined(separator: " ")
        text = [
            Self.version, keyID, challenge, String(timestampMs), nonce, scopeLine, keyExchangeHash ?? "",
        ].joined(separator: "\n")
    }

    public var bytes: [UInt8] { Array(text.utf8) }

    /// `b64u(SHA-256(x25519 bytes || mlkem768 bytes))`, the last line when `kx` is present.
    public static func keyExchangeHash(x25519: [UInt8], mlkem768: [UInt8]?) -> String {
        var hasher = SHA256()
        hasher.update(data: x25519)
        if let mlkem768 { hasher.update(data: mlkem768) }
        return Base64URL.encode(hasher.finalize())
    }
}
