/// Identifiers handed to clients: a type prefix and 128 random bits in base64url.
///
/// Random, not sequential, so an identifier reveals neither volume nor order and cannot be guessed
/// (session ids are bearer-like within a connection; OWASP asks for ≥ 64 bits of entropy, we use 128).
public enum Identifier {
    public static func random(prefix: String, bytes: Int = 16) -> String {
        prefix + "_" + Base64URL.encode(SecureRandom.bytes(count: bytes))
    }
}

/// Cryptographically secure random bytes: the standard library's generator reads the OS CSPRNG
/// (`getrandom(2)` on Linux, `arc4random` on Darwin).
public enum SecureRandom {
    public static func bytes(count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}
