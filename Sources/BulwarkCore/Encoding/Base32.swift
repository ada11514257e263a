/// Base32 (RFC 4648 §6, alphabet `A-Z2-7`), the encoding authenticator apps expect for TOTP secrets.
///
/// Encoding is canonical (upper case, padding optional). Decoding is deliberately lenient about
/// presentation, because secrets are typed in by people: case is ignored, spaces and `-` used for
/// grouping are skipped, and trailing `=` padding may be present or absent. It is strict about
/// content: any other character, padding in the middle, or a length no encoder can produce is refused.
public enum Base32 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// Maps an ASCII byte to its 5-bit value, or -1. Lower case maps like upper case.
    private static let decodeTable: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, byte) in alphabet.enumerated() {
            table[Int(byte)] = Int8(index)
            if byte >= UInt8(ascii: "A"), byte <= UInt8(ascii: "Z") { table[Int(byte | 0x20)] = Int8(index) }
        }
        return table
    }()

    /// Encodes `bytes`; with `padding` the output is filled with `=` to a multiple of 8 characters.
    public static func encode(_ bytes: [UInt8], padding: Bool = false) -> String {
        var out = symbols(of: bytes, alphabet: alphabet)
        if padding {
            while out.count % 8 != 0 { out.append(UInt8(ascii: "=")) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `bytes` as 5-bit groups, most significant bit first, each mapped through a 32-symbol
    /// `alphabet`; leftover bits are left-aligned, zero-filled, in one last symbol.
    /// Shared with other 32-symbol encodings (recovery codes use their own alphabet).
    public static func symbols(of bytes: [UInt8], alphabet: [UInt8]) -> [UInt8] {
        precondition(alphabet.count == 32, "a base32 alphabet has 32 symbols")
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 4) / 5 * 8)
        var buffer: UInt32 = 0
        var bitCount = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bitCount += 8
            while bitCount >= 5 {
                bitCount -= 5
                out.append(alphabet[Int(buffer >> UInt32(bitCount) & 31)])
            }
        }
        if bitCount > 0 {
            out.append(alphabet[Int(buffer << UInt32(5 - bitCount) & 31)])
        }
        return out
    }

    /// Decodes `text`, or returns nil when it is not base32.
    ///
    /// A final group of 1, 3 or 6 characters is refused: no byte count encodes to those lengths.
    public static func decode(_ text: String) -> [UInt8]? {
        var symbols = [UInt8]()
        var paddingCount = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "-"):
                continue
            case UInt8(ascii: "="):
                paddingCount += 1
            default:
                // A symbol after padding means the padding was not trailing.
                guard paddingCount == 0 else { return nil }
                let value = decodeTable[Int(byte)]
                guard value >= 0 else { return nil }
                symbols.append(UInt8(value))
            }
        }
        let remainder = symbols.count % 8
        guard [0, 2, 4, 5, 7].contains(remainder) else { return nil }
        if paddingCount > 0 {
            // Padding, when present, must complete the last group exactly.
            guard remainder != 0, paddingCount == 8 - remainder else { return nil }
        }

        var out = [UInt8]()
        out.reserveCapacity(symbols.count * 5 / 8)
        var buffer: UInt32 = 0
        var bitCount = 0
        for symbol in symbols {
            buffer = buffer << 5 | UInt32(symbol)
            bitCount += 5
            if bitCount >= 8 {
                bitCount -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bitCount)))
            }
        }
        // Leftover bits (fewer than 8) are the zero fill of the last symbol; ignoring non-zero fill
        // keeps the decoder tolerant of other encoders, which matters for secrets typed by people.
        return out
    }
}
