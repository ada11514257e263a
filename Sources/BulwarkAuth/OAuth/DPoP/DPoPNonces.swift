import BulwarkCore
import Crypto

/// Server-provided DPoP nonces (RFC 9449 §8) without server state: a nonce is the time window it was
/// made in and an HMAC of it under a per-process key. A nonce from the current or the previous
/// window is accepted, so a nonce lives between one and two windows.
public struct DPoPNonceSource: Sendable {
    private let key: SymmetricKey
    public let windowMs: Int64

    public init(windowMs: Int64 = 60_000, key: SymmetricKey = SymmetricKey(size: .bits256)) {
        self.windowMs = max(windowMs, 1000)
        self.key = key
    }

    public func current(nowMs: Int64) -> String { nonce(window: nowMs / windowMs) }

    public func accepts(_ nonce: String, nowMs: Int64) -> Bool {
        let window = nowMs / windowMs
        let given = Array(nonce.utf8)
        return ConstantTime.equals(given, Array(self.nonce(window: window).utf8))
            || ConstantTime.equals(given, Array(self.nonce(window: window - 1).utf8))
    }

    private func nonce(window: Int64) -> String {
        var counter = UInt64(bitPattern: window).bigEndian
        let message = withUnsafeBytes(of: &counter) { Array($0) }
        let tag = HMAC<SHA256>.authenticationCode(for: message, using: key)
        return Base64URL.encode(Array(tag).prefix(18))
    }
}
