/// An immutable JSON document tree as produced by `StrictJSONParser`.
///
/// Equality is structural and exact: numbers compare by their lexeme (`1.0 != 1`), objects compare
/// their members in order.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value as an `Int64`, only when it is a plain integer lexeme that fits (see `JSONNumber.int64`).
    public var int64Value: Int64? {
        if case .number(let value) = self { return value.int64 }
        return nil
    }

    public var numberValue: JSONNumber? {
        if case .number(let value) = self { return value }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// A JSON number kept as its exact, grammar-validated lexeme.
///
/// Nothing is ever converted to floating point implicitly: callers that need an integer use
/// `int64`, which refuses fractions, exponents, `-0` and out-of-range values.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The lexeme exactly as it appeared on the wire, e.g. `-12.5e3`.
    public let text: String

    /// Creates a number from a lexeme; `nil` unless it matches the RFC 8259 number grammar
    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    public init?(_ text: String) {
        guard JSONNumber.isValidLexeme(text.utf8) else { return nil }
        self.text = text
    }

    public init(_ value: Int64) {
        self.text = String(value)
    }

    /// For lexemes the parser has already validated.
    init(validatedText: String) {
        self.text = validatedText
    }

    public var description: String { text }

    /// Non-nil only for a plain integer lexeme (no fraction, no exponent) that fits `Int64` and is not `-0`.
    public var int64: Int64? {
        var utf8 = text.utf8.makeIterator()
        guard var byte = utf8.next() else { return nil }
        let negative = byte == UInt8(ascii: "-")
        if negative {
            guard let next = utf8.next() else { return nil }
            byte = next
        }
        // Accumulate negatively so that Int64.min is representable.
        var accumulator: Int64 = 0
        while true {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (shifted, overflow1) = accumulator.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.subtractingReportingOverflow(Int64(byte &- UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            accumulator = sum
            guard let next = utf8.next() else { break }
            byte = next
        }
        if negative {
            if accumulator == 0 { return nil }  // "-0"
            return accumulator
        }
        let (positive, overflow) = Int64(0).subtractingReportingOverflow(accumulator)
        return overflow ? nil : positive
    }

    /// True when the lexeme denotes negative zero (`-0`, `-0.0`, `-0e5`, ...).
    public var isNegativeZero: Bool {
        var utf8 = text.utf8.makeIterator()
        guard utf8.next() == UInt8(ascii: "-") else { return false }
        while let byte = utf8.next() {
            switch byte {
            case UInt8(ascii: "0"), UInt8(ascii: "."): continue
            case UInt8(ascii: "e"), UInt8(ascii: "E"): return true
            default: return false
            }
        }
        return true
    }

    static func isValidLexeme<C: Collection<UInt8>>(_ bytes: C) -> Bool {
        var index = bytes.startIndex
        let end = bytes.endIndex
        func isDigit(_ i: C.Index) -> Bool {
            i != end && bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9")
        }
        func isByte(_ i: C.Index, _ a: Unicode.Scalar, _ b: Unicode.Scalar? = nil) -> Bool {
            guard i != end else { return false }
            return bytes[i] == UInt8(ascii: a) || (b.map { bytes[i] == UInt8(ascii: $0) } ?? false)
        }
        func skipDigits() { while isDigit(index) { bytes.formIndex(after: &index) } }

        if isByte(index, "-") { bytes.formIndex(after: &index) }
        guard isDigit(index) else { return false }
        if bytes[index] == UInt8(ascii: "0") {
            bytes.formIndex(after: &index)
        } else {
            skipDigits()
        }
        if isByte(index, ".") {
            bytes.formIndex(after: &index)
            guard isDigit(index) else { return false }
            skipDigits()
        }
        if isByte(index, "e", "E") {
            bytes.formIndex(after: &index)
            if isByte(index, "+", "-") { bytes.formIndex(after: &index) }
            guard isDigit(index) else { return false }
            skipDigits()
        }
        return index == end
    }
}

/// A JSON object with its members in wire order.
///
/// Objects produced by `StrictJSONParser` never contain duplicate keys. For objects built by hand
/// with duplicates, `subscript` returns the first match.
public struct JSONObject: Sendable, Equatable {
    public let members: [(key: String, value: JSONValue)]

    public init() {
        self.members = []
    }

    public init(_ members: [(key: String, value: JSONValue)]) {
        self.members = members
    }

    /// Linear lookup: objects are small (bounded by `JSONParserLimits.maxObjectMembers`).
    public subscript(key: String) -> JSONValue? {
        for member in members where member.key == key {
            return member.value
        }
        return nil
    }

    public var keys: [String] { members.map(\.key) }

    public var count: Int { members.count }

    public var isEmpty: Bool { members.isEmpty }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        for (left, right) in zip(lhs.members, rhs.members) {
            guard left.key == right.key, left.value == right.value else { return false }
        }
        return true
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    /// Keeps the literal's order.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.members = elements.map { (key: $0.0, value: $0.1) }
    }
}
