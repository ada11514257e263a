import BulwarkCore
import Crypto

/// Single-use recovery codes, the fallback when a user has lost their authenticator.
///
/// Format: 80 random bits as 16 symbols from a 32-symbol alphabet that leaves out `0`, `1`, `I` and
/// `O`, the characters people confuse when reading a code off paper, shown as four dash-separated groups, e.g. `7KXM-QF3N-WB9R-HJ2T`. Each symbol carries exactly
/// 5 bits, so there is no modulo bias.
///
/// Only hashes are stored. Single use is the caller's job: delete the stored hash once it matched.
public enum RecoveryCodes {
    /// 24 letters (no `I`, `O`) and 8 digits (no `0`, `1`): 32 symbols, 5 bits each.
    static let alphabet: [UInt8] = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789".utf8)
    /// Random bits per code: 80, the usual floor for an offline-guess-resistant, single-use secret.
    public static let entropyBits = 80
    static let symbolsPerGroup = 4

    /// Generates `count` fresh codes from the OS CSPRNG, formatted `XXXX-XXXX-XXXX-XXXX`.
    public static func generate(count: Int = 10) -> [String] {
        (0..<max(count, 0)).map { _ in makeCode() }
    }

    /// The canonical form that is hashed: upper case, with spaces and dashes removed,
    /// so `7kxm qf3n-wb9r hj2t` matches `7KXM-QF3N-WB9R-HJ2T`.
    public static func normalize(_ code: String) -> String {
        let kept = code.utf8.compactMap { byte -> UInt8? in
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "-"): nil
            case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - 0x20
            default: byte
            }
        }
        return String(decoding: kept, as: UTF8.self)
    }

    /// Lower-case hex SHA-256 of the normalized code, the only form that is stored.
    ///
    /// A fast, unsalted hash is sufficient here, unlike for passwords: every code carries 80 bits of
    /// CSPRNG entropy, so even with a stolen hash table brute force over 2^80 candidates is out of
    /// reach, and there are no human-chosen values for a dictionary or rainbow table to exploit.
    public static func hash(_ code: String) -> String {
        let digest = SHA256.hash(data: Array(normalize(code).utf8))
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `code` hashes to `hash`, compared in constant time. Accepts upper-case hex too.
    public static func matches(_ code: String, hash storedHash: String) -> Bool {
        let expected = Array(storedHash.lowercasedASCII().utf8)
        return ConstantTime.equals(Array(hash(code).utf8), expected)
    }

    private static func makeCode() -> String {
        // 80 bits are exactly 16 symbols, so there is no zero-filled last one.
        let symbols = Base32.symbols(of: SecureRandom.bytes(count: entropyBits / 8), alphabet: alphabet)
        var out = [UInt8]()
        for (index, symbol) in symbols.enumerated() {
            if index > 0, index % symbolsPerGroup == 0 { out.append(UInt8(ascii: "-")) }
            out.append(symbol)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

private extension String {
    func lowercasedASCII() -> String {
        String(decoding: utf8.map { ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
