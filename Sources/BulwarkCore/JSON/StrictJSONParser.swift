/// Resource limits applied while parsing untrusted input. Every limit is enforced before the
/// corresponding allocation grows past it, so hostile input fails fast.
public struct JSONParserLimits: Sendable, Equatable {
    /// Maximum nesting depth of arrays/objects; a top-level container is depth 1.
    public var maxDepth: Int
    /// Maximum number of members in any one object.
    public var maxObjectMembers: Int
    /// Maximum number of elements in any one array.
    public var maxArrayElements: Int
    /// Maximum UTF-8 byte length of any string (keys and values), measured after unescaping.
    public var maxStringBytes: Int
    /// Maximum length of a number lexeme, in characters.
    public var maxNumberLength: Int
    /// Maximum size of the whole input, in bytes.
    public var maxInputBytes: Int

    public init(
        maxDepth: Int = 8,
        maxObjectMembers: Int = 64,
        maxArrayElements: Int = 1024,
        maxStringBytes: Int = 4096,
        maxNumberLength: Int = 64,
        maxInputBytes: Int = 1 << 20
    ) {
        self.maxDepth = maxDepth
        self.maxObjectMembers = maxObjectMembers
        self.maxArrayElements = maxArrayElements
        self.maxStringBytes = maxStringBytes
        self.maxNumberLength = maxNumberLength
        self.maxInputBytes = maxInputBytes
    }

    public static let `default` = JSONParserLimits()
}

/// Why and where a document was refused.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        case unexpectedEnd
        case unexpectedByte
        case invalidNumber
        case invalidEscape
        /// Malformed UTF-8, a lone surrogate escape, or an unescaped control character in a string.
        case invalidUnicode
        case duplicateKey
        case depthExceeded
        case tooManyMembers
        case tooManyElements
        case stringTooLong
        case numberTooLong
        case inputTooLarge
        case trailingData
    }

    public let reason: Reason
    /// Byte offset into the input where the problem was detected.
    public let offset: Int
    /// For `duplicateKey`: the (unescaped) duplicated key. `nil` otherwise.
    /// Attacker-controlled: escape it before logging (`description` does).
    public let path: String?

    public init(reason: Reason, offset: Int, path: String? = nil) {
        self.reason = reason
        self.offset = offset
        self.path = path
    }

    /// Log-safe rendering: the key, if any, is JSON-escaped so it cannot inject control characters.
    public var description: String {
        guard let path else { return "\(reason.rawValue) at byte \(offset)" }
        var writer = JSONWriter(reserveCapacity: path.utf8.count + 2)
        writer.string(path)
        return "\(reason.rawValue) at byte \(offset) (key \(writer.string))"
    }
}

/// A strict RFC 8259 parser for untrusted input.
///
/// - No extensions: no comments, trailing commas, single quotes, NaN/Infinity, leading zeros or `+`.
/// - Exactly one value, surrounded only by space, tab, CR or LF.
/// - Strings must be valid UTF-8 (no overlongs, no encoded surrogates, nothing above U+10FFFF),
///   with no raw control characters; `\u` escapes must pair surrogates correctly.
/// - Duplicate keys (compared after unescaping) are an error, never last-wins.
/// - Iterative: nesting depth costs heap frames, not stack, and is bounded by `limits.maxDepth`.
public struct StrictJSONParser: Sendable {
    public let limits: JSONParserLimits

    public init(limits: JSONParserLimits = .default) {
        self.limits = limits
    }

    public func parse(_ bytes: some Collection<UInt8>) throws(JSONParseError) -> JSONValue {
        let count = bytes.count
        if count > limits.maxInputBytes {
            throw JSONParseError(reason: .inputTooLarge, offset: limits.maxInputBytes)
        }
        let limits = self.limits
        let contiguous: Result<JSONValue, JSONParseError>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONParseError) -> JSONValue in
                var state = ParserState(buffer: buffer, limits: limits)
                return try state.parseDocument()
            }
        }
        if let contiguous { return try contiguous.get() }
        let array = Array(bytes)
        return try parse(array)
    }

    public func parse(_ string: String) throws(JSONParseError) -> JSONValue {
        if string.utf8.count > limits.maxInputBytes {
            throw JSONParseError(reason: .inputTooLarge, offset: limits.maxInputBytes)
        }
        var string = string
        let limits = self.limits
        let result = string.withUTF8 { buffer in
            Result { () throws(JSONParseError) -> JSONValue in
                var state = ParserState(buffer: buffer, limits: limits)
                return try state.parseDocument()
            }
        }
        return try result.get()
    }
}

// MARK: - Implementation

private enum ASCII {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let zero = UInt8(ascii: "0")
    static let nine = UInt8(ascii: "9")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let lineFeed = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
}

/// One open container on the explicit parse stack.
private struct Frame {
    var isObject: Bool
    /// Index in `values` of this container's first element/member value.
    var valueStart: Int
    /// Index in `keys` of this object's first key.
    var keyStart: Int
    /// Built lazily for large objects; small objects use a linear scan for duplicates.
    var keySet: Set<String>?
}

/// Objects with at most this many keys are checked for duplicates by linear scan.
private let linearDuplicateScanLimit = 16

private struct ParserState {
    let buffer: UnsafeBufferPointer<UInt8>
    let end: Int
    let limits: JSONParserLimits
    var position = 0
    /// Reused across strings that contain escapes.
    var scratch: [UInt8] = []

    init(buffer: UnsafeBufferPointer<UInt8>, limits: JSONParserLimits) {
        self.buffer = buffer
        self.end = buffer.count
        self.limits = limits
    }

    @inline(__always)
    func error(_ reason: JSONParseError.Reason, at offset: Int, path: String? = nil) -> JSONParseError {
        JSONParseError(reason: reason, offset: offset, path: path)
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while position < end {
            switch buffer[position] {
            case ASCII.space, ASCII.tab, ASCII.lineFeed, ASCII.carriageReturn: position += 1
            default: return
            }
        }
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte >= ASCII.zero && byte <= ASCII.nine }

    // MARK: Document

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        var frames: [Frame] = []
        var values: [JSONValue] = []
        var keys: [String] = []
        frames.reserveCapacity(min(limits.maxDepth, 16))
        values.reserveCapacity(16)
        keys.reserveCapacity(16)

        skipWhitespace()
        parseValue: while true {
            // Invariant: whitespace skipped; a value must start at `position`.
            guard position < end else { throw error(.unexpectedEnd, at: position) }
            var value: JSONValue
            switch buffer[position] {
            case ASCII.openBrace:
                if frames.count >= limits.maxDepth { throw error(.depthExceeded, at: position) }
                position += 1
                skipWhitespace()
                if position < end && buffer[position] == ASCII.closeBrace {
                    position += 1
                    value = .object(JSONObject())
                } else {
                    frames.append(Frame(isObject: true, valueStart: values.count, keyStart: keys.count))
                    try parseMemberKey(frames: &frames, keys: &keys)
                    continue parseValue
                }
            case ASCII.openBracket:
                if frames.count >= limits.maxDepth { throw error(.depthExceeded, at: position) }
                position += 1
                skipWhitespace()
                if position < end && buffer[position] == ASCII.closeBracket {
                    position += 1
                    value = .array([])
                } else {
                    if limits.maxArrayElements < 1 { throw error(.tooManyElements, at: position) }
                    frames.append(Frame(isObject: false, valueStart: values.count, keyStart: keys.count))
                    continue parseValue
                }
            case ASCII.quote:
                value = .string(try parseString())
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                value = .null
            case ASCII.minus, ASCII.zero...ASCII.nine:
                value = .number(try parseNumber())
            case ASCII.plus, ASCII.dot:
                throw error(.invalidNumber, at: position)
            default:
                throw error(.unexpectedByte, at: position)
            }

            // A complete value is in hand: attach it to the enclosing container(s).
            while true {
                guard let top = frames.last else {
                    skipWhitespace()
                    if position != end { throw error(.trailingData, at: position) }
                    return value
                }
                values.append(value)
                skipWhitespace()
                guard position < end else { throw error(.unexpectedEnd, at: position) }
                let byte = buffer[position]
                if byte == ASCII.comma {
                    position += 1
                    skipWhitespace()
                    if top.isObject {
                        try parseMemberKey(frames: &frames, keys: &keys)
                    } else if values.count - top.valueStart >= limits.maxArrayElements {
                        throw error(.tooManyElements, at: position)
                    }
                    continue parseValue
                }
                if top.isObject {
                    guard byte == ASCII.closeBrace else { throw error(.unexpectedByte, at: position) }
                    position += 1
                    frames.removeLast()
                    let memberCount = values.count - top.valueStart
                    var members: [(key: String, value: JSONValue)] = []
                    members.reserveCapacity(memberCount)
                    for offset in 0..<memberCount {
                        members.append((key: keys[top.keyStart + offset], value: values[top.valueStart + offset]))
                    }
                    keys.removeLast(memberCount)
                    values.removeLast(memberCount)
                    value = .object(JSONObject(members))
                } else {
                    guard byte == ASCII.closeBracket else { throw error(.unexpectedByte, at: position) }
                    position += 1
                    frames.removeLast()
                    let elements = Array(values[top.valueStart...])
                    values.removeLast(elements.count)
                    value = .array(elements)
                }
            }
        }
    }

    /// Parses `"key"` `:` for the innermost (object) frame, enforcing the member limit and
    /// rejecting duplicates. Leaves `position` at the start of the member's value.
    mutating func parseMemberKey(frames: inout [Frame], keys: inout [String]) throws(JSONParseError) {
        guard position < end else { throw error(.unexpectedEnd, at: position) }
        guard buffer[position] == ASCII.quote else { throw error(.unexpectedByte, at: position) }
        let frameIndex = frames.count - 1
        let keyStart = frames[frameIndex].keyStart
        let existing = keys.count - keyStart
        if existing >= limits.maxObjectMembers { throw error(.tooManyMembers, at: position) }
        let keyOffset = position
        let key = try parseString()

        if existing < linearDuplicateScanLimit {
            for index in keyStart..<keys.count where keys[index] == key {
                throw error(.duplicateKey, at: keyOffset, path: key)
            }
        } else {
            if existing == linearDuplicateScanLimit {
                frames[frameIndex].keySet = Set(keys[keyStart...])
            }
            if !frames[frameIndex].keySet!.insert(key).inserted {
                throw error(.duplicateKey, at: keyOffset, path: key)
            }
        }
        keys.append(key)

        skipWhitespace()
        guard position < end else { throw error(.unexpectedEnd, at: position) }
        guard buffer[position] == ASCII.colon else { throw error(.unexpectedByte, at: position) }
        position += 1
        skipWhitespace()
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        let bytes = literal.utf8Start
        for index in 0..<count {
            guard position < end else { throw error(.unexpectedEnd, at: position) }
            guard buffer[position] == bytes[index] else { throw error(.unexpectedByte, at: position) }
            position += 1
        }
    }

    // MARK: Numbers

    mutating func parseNumber() throws(JSONParseError) -> JSONNumber {
        let start = position
        if buffer[position] == ASCII.minus { position += 1 }
        guard position < end, Self.isDigit(buffer[position]) else { throw error(.invalidNumber, at: position) }
        if buffer[position] == ASCII.zero {
            position += 1
            if position < end && Self.isDigit(buffer[position]) { throw error(.invalidNumber, at: position) }
        } else {
            position += 1
            skipDigits()
        }
        if position < end && buffer[position] == ASCII.dot {
            position += 1
            guard position < end, Self.isDigit(buffer[position]) else { throw error(.invalidNumber, at: position) }
            skipDigits()
        }
        if position < end && (buffer[position] == UInt8(ascii: "e") || buffer[position] == UInt8(ascii: "E")) {
            position += 1
            if position < end && (buffer[position] == ASCII.plus || buffer[position] == ASCII.minus) { position += 1 }
            guard position < end, Self.isDigit(buffer[position]) else { throw error(.invalidNumber, at: position) }
            skipDigits()
        }
        if position - start > limits.maxNumberLength { throw error(.numberTooLong, at: start) }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<position]), as: UTF8.self)
        return JSONNumber(validatedText: text)
    }

    @inline(__always)
    mutating func skipDigits() {
        while position < end && Self.isDigit(buffer[position]) { position += 1 }
    }

    // MARK: Strings

    /// Parses a string starting at the opening quote. Fast path: no escapes, so the String is
    /// built directly from the validated input bytes.
    mutating func parseString() throws(JSONParseError) -> String {
        let start = position
        position += 1
        let contentStart = position
        let maxBytes = limits.maxStringBytes
        while position < end {
            let byte = buffer[position]
            if byte == ASCII.quote {
                let slice = UnsafeBufferPointer(rebasing: buffer[contentStart..<position])
                position += 1
                return String(decoding: slice, as: UTF8.self)
            }
            if byte == ASCII.backslash {
                return try parseEscapedString(start: start, contentStart: contentStart)
            }
            if byte < 0x20 { throw error(.invalidUnicode, at: position) }
            if byte < 0x80 {
                position += 1
            } else {
                try skipUTF8Sequence()
            }
            if position - contentStart > maxBytes { throw error(.stringTooLong, at: start) }
        }
        throw error(.unexpectedEnd, at: position)
    }

    /// Slow path, entered at the first backslash: unescapes into `scratch`.
    mutating func parseEscapedString(start: Int, contentStart: Int) throws(JSONParseError) -> String {
        let maxBytes = limits.maxStringBytes
        scratch.removeAll(keepingCapacity: true)
        var runStart = contentStart
        while position < end {
            let byte = buffer[position]
            if byte == ASCII.quote || byte == ASCII.backslash {
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart..<position]))
                if byte == ASCII.quote {
                    if scratch.count > maxBytes { throw error(.stringTooLong, at: start) }
                    position += 1
                    return String(decoding: scratch, as: UTF8.self)
                }
                try appendEscape()
                runStart = position
            } else if byte < 0x20 {
                throw error(.invalidUnicode, at: position)
            } else if byte < 0x80 {
                position += 1
            } else {
                try skipUTF8Sequence()
            }
            if scratch.count + (position - runStart) > maxBytes { throw error(.stringTooLong, at: start) }
        }
        throw error(.unexpectedEnd, at: position)
    }

    /// `position` is at a backslash; decodes one escape into `scratch`.
    mutating func appendEscape() throws(JSONParseError) {
        let escapeStart = position
        position += 1
        guard position < end else { throw error(.unexpectedEnd, at: position) }
        let byte = buffer[position]
        position += 1
        switch byte {
        case ASCII.quote: scratch.append(ASCII.quote)
        case ASCII.backslash: scratch.append(ASCII.backslash)
        case ASCII.slash: scratch.append(ASCII.slash)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try readHex4()
            var scalarValue: UInt32
            switch unit {
            case 0xD800...0xDBFF:
                // Must be immediately followed by an escaped low surrogate.
                guard position + 1 < end,
                      buffer[position] == ASCII.backslash,
                      buffer[position + 1] == UInt8(ascii: "u")
                else { throw error(.invalidUnicode, at: escapeStart) }
                position += 2
                let low = try readHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw error(.invalidUnicode, at: escapeStart) }
                scalarValue = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            case 0xDC00...0xDFFF:
                throw error(.invalidUnicode, at: escapeStart)
            default:
                scalarValue = unit
            }
            appendUTF8(scalarValue)
        default:
            throw error(.invalidEscape, at: escapeStart)
        }
    }

    mutating func readHex4() throws(JSONParseError) -> UInt32 {
        var result: UInt32 = 0
        for _ in 0..<4 {
            guard position < end else { throw error(.unexpectedEnd, at: position) }
            let byte = buffer[position]
            let digit: UInt8
            switch byte {
            case ASCII.zero...ASCII.nine: digit = byte &- ASCII.zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte &- UInt8(ascii: "A") &+ 10
            default: throw error(.invalidEscape, at: position)
            }
            result = result << 4 | UInt32(digit)
            position += 1
        }
        return result
    }

    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | (scalar >> 6)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | (scalar >> 12)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            scratch.append(UInt8(0xF0 | (scalar >> 18)))
            scratch.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }

    /// Validates one multi-byte UTF-8 sequence at `position` (lead byte >= 0x80) per RFC 3629
    /// Table 3-7 and advances past it. Rejects overlongs, encoded surrogates, > U+10FFFF and
    /// truncated sequences.
    @inline(__always)
    mutating func skipUTF8Sequence() throws(JSONParseError) {
        let lead = buffer[position]
        let continuationCount: Int
        var secondLow: UInt8 = 0x80
        var secondHigh: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF:
            continuationCount = 1
        case 0xE0:
            continuationCount = 2; secondLow = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF:
            continuationCount = 2
        case 0xED:
            continuationCount = 2; secondHigh = 0x9F
        case 0xF0:
            continuationCount = 3; secondLow = 0x90
        case 0xF1...0xF3:
            continuationCount = 3
        case 0xF4:
            continuationCount = 3; secondHigh = 0x8F
        default:
            throw error(.invalidUnicode, at: position)
        }
        guard position + continuationCount < end else { throw error(.invalidUnicode, at: position) }
        let second = buffer[position + 1]
        guard second >= secondLow && second <= secondHigh else { throw error(.invalidUnicode, at: position) }
        var index = 2
        while index <= continuationCount {
            guard buffer[position + index] & 0xC0 == 0x80 else { throw error(.invalidUnicode, at: position) }
            index += 1
        }
        position += continuationCount + 1
    }
}
