/// A streaming, compact JSON writer appending UTF-8 to `bytes`.
///
/// Commas and colons are inserted automatically. Strings are escaped per RFC 8259; in addition
/// U+2028/U+2029 are escaped, and no raw control character (< 0x20) is ever emitted, so the output
/// is safe to embed in logs and JavaScript. Structural misuse (e.g. `endArray()` closing an object,
/// or a value in an object without a preceding `key`) is caught by assertions in debug builds.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8]

    /// Open-container depth, and a bit stack (1 = object) of the innermost 64 levels; only
    /// consulted by debug assertions, kept allocation-free.
    private var depth = 0
    private var objectBits: UInt64 = 0
    /// Set once nesting has exceeded 64 levels: outer bits may have been shifted out.
    private var bitsLost = false
    /// Whether the next item at the current level must be preceded by a comma.
    private var needsComma = false
    /// Set by `key(_:)`: the next value completes a member, so no comma.
    private var afterKey = false

    public init(reserveCapacity capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// The output decoded as a String (the writer only ever emits valid UTF-8).
    public var string: String { String(decoding: bytes, as: UTF8.self) }

    public static func encode(_ value: JSONValue) -> [UInt8] {
        var writer = JSONWriter()
        writer.value(value)
        return writer.bytes
    }

    // MARK: Structure

    public mutating func beginObject() {
        beforeValue()
        bytes.append(UInt8(ascii: "{"))
        push(isObject: true)
        needsComma = false
    }

    public mutating func endObject() {
        assert(depth > 0 && innermostIsObject != false, "endObject() without matching beginObject()")
        assert(!afterKey, "endObject() after key() without a value")
        pop()
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        beforeValue()
        bytes.append(UInt8(ascii: "["))
        push(isObject: false)
        needsComma = false
    }

    public mutating func endArray() {
        assert(depth > 0 && innermostIsObject != true, "endArray() without matching beginArray()")
        pop()
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    public mutating func key(_ key: String) {
        assert(depth > 0 && innermostIsObject != false && !afterKey, "key() outside an object or twice in a row")
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        appendQuoted(key)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    // MARK: Values

    public mutating func string(_ value: String) {
        beforeValue()
        appendQuoted(value)
        needsComma = true
    }

    public mutating func int(_ value: Int64) {
        beforeValue()
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        appendDecimal(value.magnitude)
        needsComma = true
    }

    public mutating func uint(_ value: UInt64) {
        beforeValue()
        appendDecimal(value)
        needsComma = true
    }

    public mutating func bool(_ value: Bool) {
        beforeValue()
        appendLiteral(value ? "true" : "false")
        needsComma = true
    }

    public mutating func null() {
        beforeValue()
        appendLiteral("null")
        needsComma = true
    }

    public mutating func number(_ value: JSONNumber) {
        beforeValue()
        bytes.append(contentsOf: value.text.utf8)
        needsComma = true
    }

    /// Inserts pre-encoded JSON as one value. The caller guarantees it is a single valid JSON value;
    /// it is not checked.
    public mutating func raw(_ jsonText: [UInt8]) {
        beforeValue()
        bytes.append(contentsOf: jsonText)
        needsComma = true
    }

    /// Writes a whole value tree (recursively; trees from `StrictJSONParser` are depth-bounded).
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .number(let number): self.number(number)
        case .string(let text): string(text)
        case .array(let elements):
            beginArray()
            for element in elements { self.value(element) }
            endArray()
        case .object(let object):
            beginObject()
            for member in object.members {
                key(member.key)
                self.value(member.value)
            }
            endObject()
        }
    }

    // MARK: Internals

    @inline(__always)
    private mutating func push(isObject: Bool) {
        objectBits = objectBits << 1 | (isObject ? 1 : 0)
        depth += 1
        if depth > 64 { bitsLost = true }
    }

    @inline(__always)
    private mutating func pop() {
        objectBits >>= 1
        depth -= 1
    }

    /// Whether the innermost open container is an object; nil when unknown (none open, or the
    /// writer has been nested deeper than the bit stack can track).
    private var innermostIsObject: Bool? {
        guard depth > 0 && !bitsLost else { return nil }
        return objectBits & 1 == 1
    }

    @inline(__always)
    private mutating func beforeValue() {
        if afterKey {
            afterKey = false
            return
        }
        assert(depth == 0 || innermostIsObject != true, "value written in an object without key()")
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func appendDecimal(_ value: UInt64) {
        if value < 10 {
            bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
            return
        }
        let start = bytes.count
        var remaining = value
        while remaining > 0 {
            let (quotient, digit) = remaining.quotientAndRemainder(dividingBy: 10)
            bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: digit))
            remaining = quotient
        }
        bytes[start...].reverse()
    }

    @inline(__always)
    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10)
    }

    @inline(__always)
    private mutating func appendLiteral(_ literal: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    private mutating func appendQuoted(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            let count = utf8.count
            var runStart = 0
            var index = 0
            while index < count {
                let byte = utf8[index]
                let replacement: UInt8  // second byte of a two-byte escape, or 0 for \u form
                switch byte {
                case UInt8(ascii: "\""): replacement = UInt8(ascii: "\"")
                case UInt8(ascii: "\\"): replacement = UInt8(ascii: "\\")
                case 0x0A: replacement = UInt8(ascii: "n")
                case 0x0D: replacement = UInt8(ascii: "r")
                case 0x09: replacement = UInt8(ascii: "t")
                case 0x08: replacement = UInt8(ascii: "b")
                case 0x0C: replacement = UInt8(ascii: "f")
                case 0x00..<0x20: replacement = 0
                case 0xE2:
                    // U+2028 / U+2029 are E2 80 A8 / E2 80 A9.
                    if index + 2 < count, utf8[index + 1] == 0x80, utf8[index + 2] & 0xFE == 0xA8 {
                        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                        appendLiteral(utf8[index + 2] == 0xA8 ? "\\u2028" : "\\u2029")
                        index += 3
                        runStart = index
                    } else {
                        index += 1
                    }
                    continue
                default:
                    index += 1
                    continue
                }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                bytes.append(UInt8(ascii: "\\"))
                if replacement != 0 {
                    bytes.append(replacement)
                } else {
                    appendLiteral("u00")
                    bytes.append(Self.hexDigit(byte >> 4))
                    bytes.append(Self.hexDigit(byte & 0x0F))
                }
                index += 1
                runStart = index
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<count]))
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension JSONValue {
    /// Compact JSON text for this value.
    public var jsonText: String {
        String(decoding: JSONWriter.encode(self), as: UTF8.self)
    }
}
