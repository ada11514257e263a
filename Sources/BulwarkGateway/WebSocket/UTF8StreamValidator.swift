/// Validates UTF-8 incrementally, byte by byte across fragment boundaries, so a text message that
/// turns invalid in its second fragment fails then (RFC 6455 §8.1 "fail fast"), not after the last.
///
/// The accepted language is exactly RFC 3629: no overlong forms, no surrogates (U+D800...U+DFFF),
/// nothing above U+10FFFF. Noncharacters such as U+FFFE are valid UTF-8 and pass.
struct UTF8StreamValidator: Sendable {
    /// Continuation bytes still expected for the code point in progress.
    private var pending = 0
    /// The allowed range of the next continuation byte; narrower than 0x80...0xBF right after the
    /// lead bytes that would otherwise admit overlong forms, surrogates or values past U+10FFFF.
    private var low: UInt8 = 0x80
    private var high: UInt8 = 0xBF

    /// True when the bytes so far end on a code point boundary.
    var isAtBoundary: Bool { pending == 0 }

    /// Feeds more bytes; false as soon as they cannot be the start of valid UTF-8.
    mutating func feed(_ bytes: some Sequence<UInt8>) -> Bool {
        for byte in bytes {
            if pending == 0 {
                switch byte {
                case 0x00...0x7F: continue
                case 0xC2...0xDF: expect(1)
                case 0xE0: expect(2, low: 0xA0)
                case 0xE1...0xEC, 0xEE...0xEF: expect(2)
                case 0xED: expect(2, high: 0x9F)  // U+D800... are surrogates
                case 0xF0: expect(3, low: 0x90)
                case 0xF1...0xF3: expect(3)
                case 0xF4: expect(3, high: 0x8F)  // beyond U+10FFFF otherwise
                default: return false  // 0x80...0xC1 (continuation or overlong lead), 0xF5...0xFF
                }
            } else {
                guard byte >= low && byte <= high else { return false }
                pending -= 1
                low = 0x80
                high = 0xBF
            }
        }
        return true
    }

    private mutating func expect(_ count: Int, low: UInt8 = 0x80, high: UInt8 = 0xBF) {
        pending = count
        self.low = low
        self.high = high
    }

    /// Validates one complete buffer.
    static func isValid(_ bytes: some Sequence<UInt8>) -> Bool {
        var validator = UTF8StreamValidator()
        return validator.feed(bytes) && validator.isAtBoundary
    }
}
