import BulwarkCore
import Crypto

/// Time-based one-time passwords (RFC 6238), computed as HOTP (RFC 4226) over a time-step counter.
///
/// Pure computation: the caller supplies the time and stores the last accepted counter, so a code
/// cannot be replayed (`verify` returns the matched counter for exactly that purpose).
public struct TOTP: Sendable {
    /// The HMAC hash. SHA-1 is what almost every authenticator app implements; HMAC-SHA-1 remains
    /// sound as a PRF even though SHA-1 collisions are practical.
    public enum Algorithm: String, Sendable, CaseIterable {
        case sha1 = "SHA1"
        case sha256 = "SHA256"
        case sha512 = "SHA512"

        /// The secret length matching the hash output (the seed lengths of RFC 6238 Appendix B).
        public var recommendedSecretLength: Int {
            switch self {
            case .sha1: 20
            case .sha256: 32
            case .sha512: 64
            }
        }
    }

    /// Why parameters were refused.
    public enum ConfigurationError: Error, Sendable, Equatable {
        /// RFC 4226 §4 R6 requires a shared secret of at least 128 bits.
        case secretTooShort(bytes: Int)
        /// RFC 4226 §5.3 allows 6 to 8 digits here (fewer are guessable, more exceed 31 bits usefully).
        case unsupportedDigits(Int)
        /// Steps outside 15...120 s are either too short to type or too long-lived.
        case unsupportedPeriod(Int64)
    }

    /// The smallest secret accepted, in bytes (128 bits, RFC 4226 §4 R6).
    public static let minimumSecretLength = 16
    public static let allowedDigits = 6...8
    public static let allowedPeriodSeconds: ClosedRange<Int64> = 15...120

    public let secret: [UInt8]
    public let algorithm: Algorithm
    public let digits: Int
    public let periodSeconds: Int64

    /// Validates the parameters; see `ConfigurationError` for the limits.
    public init(secret: [UInt8], algorithm: Algorithm = .sha1, digits: Int = 6, periodSeconds: Int64 = 30) throws {
        guard secret.count >= Self.minimumSecretLength else { throw ConfigurationError.secretTooShort(bytes: secret.count) }
        guard Self.allowedDigits.contains(digits) else { throw ConfigurationError.unsupportedDigits(digits) }
        guard Self.allowedPeriodSeconds.contains(periodSeconds) else { throw ConfigurationError.unsupportedPeriod(periodSeconds) }
        self.secret = secret
        self.algorithm = algorithm
        self.digits = digits
        self.periodSeconds = periodSeconds
    }

    /// A fresh secret from the OS CSPRNG, as long as the hash output (RFC 4226 recommends 160 bits for SHA-1).
    public static func generateSecret(for algorithm: Algorithm) -> [UInt8] {
        SecureRandom.bytes(count: algorithm.recommendedSecretLength)
    }

    /// The time-step counter `T = floor(unixSeconds / period)` (RFC 6238 §4.2, T0 = 0).
    ///
    /// Times before the epoch clamp to counter 0 rather than trapping.
    public func counter(atUnixMs ms: Int64) -> UInt64 {
        guard ms > 0 else { return 0 }
        return UInt64(ms / 1000 / periodSeconds)
    }

    /// The HOTP value for `counter` (RFC 4226 §5.3), zero-padded to `digits`.
    public func code(counter: UInt64) -> String {
        let value = truncatedValue(counter: counter) % Self.powerOfTen(digits)
        let decimal = String(value)
        return String(repeating: "0", count: digits - decimal.count) + decimal
    }

    /// The code for the time step containing `ms`.
    public func code(atUnixMs ms: Int64) -> String {
        code(counter: counter(atUnixMs: ms))
    }

    /// Checks a code against counters now-window...now+window (window default 1 = ±1 step, RFC 6238 §5.2).
    ///
    /// Every candidate is computed and compared in constant time, with no early exit, so timing
    /// reveals neither which step matched nor how many leading digits were right. Returns the
    /// matching counter so the caller can refuse replays (a counter ≤ the last used counter must be
    /// refused by the caller), or nil if none matches. Codes of the wrong length or containing
    /// anything but ASCII digits are refused outright. A negative `window` counts as 0; the cost grows
    /// with the window, so keep it small (RFC 6238 §5.2 recommends at most one step back).
    public func verify(_ code: String, atUnixMs ms: Int64, window: Int = 1) -> UInt64? {
        let submitted = Array(code.utf8)
        guard submitted.count == digits,
              submitted.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        let now = counter(atUnixMs: ms)
        let steps = UInt64(max(window, 0))
        let first = now >= steps ? now - steps : 0
        let last = now <= UInt64.max - steps ? now + steps : UInt64.max

        var matched: UInt64? = nil
        var candidate = first
        while true {
            let expected = Array(self.code(counter: candidate).utf8)
            if ConstantTime.equals(expected, submitted), matched == nil { matched = candidate }
            if candidate == last { break }
            candidate += 1
        }
        return matched
    }

    /// An `otpauth://` URI in the Key Uri Format understood by Google Authenticator and most apps:
    /// `otpauth://totp/<issuer>:<account>?secret=<base32>&issuer=<issuer>&algorithm=SHA1&digits=6&period=30`.
    ///
    /// Label and issuer are percent-encoded outside the RFC 3986 unreserved set (so `:` within them
    /// cannot be confused with the label separator, and a space becomes `%20`, never `+`).
    public func otpauthURI(issuer: String, accountName: String) -> String {
        let encodedIssuer = Self.percentEncode(issuer)
        let label = encodedIssuer + ":" + Self.percentEncode(accountName)
        return "otpauth://totp/\(label)?secret=\(Base32.encode(secret))&issuer=\(encodedIssuer)"
            + "&algorithm=\(algorithm.rawValue)&digits=\(digits)&period=\(periodSeconds)"
    }

    // MARK: - HOTP internals

    /// HMAC of the big-endian counter, then dynamic truncation to 31 bits (RFC 4226 §5.3).
    private func truncatedValue(counter: UInt64) -> UInt32 {
        let message = (0..<8).map { UInt8(truncatingIfNeeded: counter >> (56 - 8 * UInt64($0))) }
        let mac = hmac(message)
        let offset = Int(mac[mac.count - 1] & 0x0F)
        return (UInt32(mac[offset] & 0x7F) << 24)
            | (UInt32(mac[offset + 1]) << 16)
            | (UInt32(mac[offset + 2]) << 8)
            | UInt32(mac[offset + 3])
    }

    private func hmac(_ message: [UInt8]) -> [UInt8] {
        let key = SymmetricKey(data: secret)
        switch algorithm {
        case .sha1: return Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: key))
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: message, using: key))
        }
    }

    private static func powerOfTen(_ exponent: Int) -> UInt32 {
        (0..<exponent).reduce(1) { result, _ in result * 10 }
    }

    /// Percent-encodes every byte of the UTF-8 form outside `A-Z a-z 0-9 - . _ ~` (RFC 3986 §2.3).
    private static func percentEncode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
