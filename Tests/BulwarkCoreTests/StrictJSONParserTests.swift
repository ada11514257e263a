import BulwarkCore
import Testing

private typealias Reason = JSONParseError.Reason

private func parse(_ text: String, limits: JSONParserLimits = .default) throws(JSONParseError) -> JSONValue {
    try StrictJSONParser(limits: limits).parse(text)
}

/// The refusal reason for `bytes`, or nil if they parse.
private func failure(_ bytes: [UInt8], limits: JSONParserLimits = .default) -> JSONParseError? {
    do {
        _ = try StrictJSONParser(limits: limits).parse(bytes)
        return nil
    } catch {
        return error
    }
}

private func failure(_ text: String, limits: JSONParserLimits = .default) -> JSONParseError? {
    failure(Array(text.utf8), limits: limits)
}

/// `"` + bytes + `"`, for raw-UTF-8 tests.
private func quoted(_ bytes: [UInt8]) -> [UInt8] { [0x22] + bytes + [0x22] }

private func nested(depth: Int) -> String {
    String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
}

@Suite("StrictJSONParser")
struct StrictJSONParserTests {
    // MARK: Valid documents

    static let validDocuments: [String] = [
        "null", "true", "false", "0", "-1", "12.5e-3", "1E+2", "-0.0", "\"\"", "\"hello\"",
        "[]", "{}", "[1,2,3]", " \t\r\n{ \"a\" : [ true , null ] }\n",
        #"{"jsonrpc":"2.0","id":7,"method":"order.place","params":{"qty":"1","px":"12.50","tags":["a","b"],"post":false}}"#,
        #""esc: \" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u20AC \ud83d\ude00""#,
        "\"raw: é € 😀 \u{7F}\"",
        #"[[[[[[[["deep"]]]]]]]]"#,
        #"{"a":{"b":{"c":[{},[],"",0]}}}"#,
    ]

    @Test("valid documents round-trip through the writer", arguments: validDocuments)
    func roundTrip(_ document: String) throws {
        let parsed = try parse(document)
        let written = JSONWriter.encode(parsed)
        let reparsed = try StrictJSONParser().parse(written)
        #expect(reparsed == parsed)
        // Compact output is a fixed point.
        #expect(JSONWriter.encode(reparsed) == written)
    }

    @Test func parsedStructureAndAccessors() throws {
        let value = try parse(#"{"id":42,"method":"x","ok":true,"none":null,"list":[1,"two"],"obj":{"k":"v"}}"#)
        let object = try #require(value.objectValue)
        #expect(object.keys == ["id", "method", "ok", "none", "list", "obj"])
        #expect(object.count == 6)
        #expect(object["id"]?.int64Value == 42)
        #expect(object["method"]?.stringValue == "x")
        #expect(object["ok"]?.boolValue == true)
        #expect(object["none"]?.isNull == true)
        #expect(object["list"]?.arrayValue == [.number(JSONNumber(1)), .string("two")])
        #expect(object["obj"]?.objectValue?["k"]?.stringValue == "v")
        #expect(object["missing"] == nil)
        #expect(value.stringValue == nil)
        #expect(object["method"]?.int64Value == nil)
    }

    @Test func acceptsNonContiguousCollections() throws {
        let bytes = Array(#"{"a":[1,2]}"#.utf8)
        let viaLazyMap = try StrictJSONParser().parse(bytes.lazy.map { $0 })
        #expect(viaLazyMap == (try parse(#"{"a":[1,2]}"#)))
        let viaSlice = try StrictJSONParser().parse(bytes[0...])
        #expect(viaSlice == viaLazyMap)
    }

    // MARK: Every reason

    @Test("every Reason is reachable", arguments: [
        ("", Reason.unexpectedEnd),
        ("[1,2", .unexpectedEnd),
        ("\"abc", .unexpectedEnd),
        ("tru", .unexpectedEnd),
        ("{\"a\"", .unexpectedEnd),
        ("{'a':1}", .unexpectedByte),
        ("[1 2]", .unexpectedByte),
        ("nul1", .unexpectedByte),
        ("NaN", .unexpectedByte),
        ("Infinity", .unexpectedByte),
        ("/* c */ 1", .unexpectedByte),
        ("\u{FEFF}1", .unexpectedByte),
        ("-Infinity", .invalidNumber),
        ("01", .invalidNumber),
        ("\"\\x\"", .invalidEscape),
        ("\"\\u12G4\"", .invalidEscape),
        ("\"\\ud800\"", .invalidUnicode),
        ("{\"a\":1,\"a\":2}", .duplicateKey),
        (nested(depth: 9), .depthExceeded),
        ("1 2", .trailingData),
    ])
    func reasons(_ input: String, _ expected: JSONParseError.Reason) {
        #expect(failure(input)?.reason == expected)
    }

    @Test func everyReasonIsCovered() {
        let cases: [(input: [UInt8], limits: JSONParserLimits, reason: Reason)] = [
            (Array("[".utf8), .default, .unexpectedEnd),
            (Array("[}".utf8), .default, .unexpectedByte),
            (Array("-".utf8), .default, .invalidNumber),
            (Array(#""\a""#.utf8), .default, .invalidEscape),
            (quoted([0xC0, 0xAF]), .default, .invalidUnicode),
            (Array(#"{"k":1,"k":1}"#.utf8), .default, .duplicateKey),
            (Array(nested(depth: 3).utf8), JSONParserLimits(maxDepth: 2), .depthExceeded),
            (Array(#"{"a":1,"b":2}"#.utf8), JSONParserLimits(maxObjectMembers: 1), .tooManyMembers),
            (Array("[1,2]".utf8), JSONParserLimits(maxArrayElements: 1), .tooManyElements),
            (Array(#""abc""#.utf8), JSONParserLimits(maxStringBytes: 2), .stringTooLong),
            (Array("123".utf8), JSONParserLimits(maxNumberLength: 2), .numberTooLong),
            (Array("[1]".utf8), JSONParserLimits(maxInputBytes: 2), .inputTooLarge),
            (Array("{} x".utf8), .default, .trailingData),
        ]
        #expect(Set(cases.map(\.reason)) == Set(Reason.allCases))
        for item in cases {
            #expect(failure(item.input, limits: item.limits)?.reason == item.reason, "\(item.reason)")
        }
    }

    @Test func errorOffsetsPointAtTheProblem() {
        #expect(failure("[1,x]")?.offset == 3)
        #expect(failure("{\"a\":1,\"a\":2}")?.offset == 7)
        #expect(failure("\"ab\u{1}\"")?.offset == 3)
        #expect(failure("  1  ,")?.offset == 5)
    }

    // MARK: Duplicates

    @Test func duplicateKeysAreRefused() throws {
        let plain = try #require(failure(#"{"qty":"1","qty":"1000"}"#))
        #expect(plain.reason == .duplicateKey)
        #expect(plain.path == "qty")

        let escaped = try #require(failure(#"{"a":1,"\u0061":2}"#))
        #expect(escaped.reason == .duplicateKey)
        #expect(escaped.path == "a")

        // Same key in different objects is fine; nested duplicates are still caught.
        #expect(failure(#"{"a":{"a":1},"b":{"a":2}}"#) == nil)
        #expect(failure(#"[{"x":1},{"y":{"z":1,"z":1}}]"#)?.reason == .duplicateKey)
    }

    @Test func duplicateKeysAreRefusedInLargeObjects() {
        // Exercises the hashed path used beyond the linear-scan threshold.
        let members = (0..<40).map { "\"k\($0)\":\($0)" }
        #expect(failure("{" + members.joined(separator: ",") + "}") == nil)
        let withDuplicate = members + ["\"k3\":99"]
        let error = failure("{" + withDuplicate.joined(separator: ",") + "}")
        #expect(error?.reason == .duplicateKey)
        #expect(error?.path == "k3")
        let earlyDuplicate = members[0..<16] + ["\"k15\":1"] + members[16...]
        #expect(failure("{" + earlyDuplicate.joined(separator: ",") + "}")?.reason == .duplicateKey)
    }

    @Test func duplicateKeyDescriptionIsLogSafe() throws {
        let error = try #require(failure(#"{"a\n\u001b[31m":1,"a\n\u001b[31m":2}"#))
        #expect(error.reason == .duplicateKey)
        #expect(error.path == "a\n\u{1b}[31m")
        #expect(!error.description.unicodeScalars.contains { $0.value < 0x20 })
    }

    // MARK: Limits

    @Test func deepNestingFailsFastWithoutRecursion() {
        let clock = ContinuousClock()
        var error: JSONParseError?
        let elapsed = clock.measure { error = failure(nested(depth: 10_000)) }
        #expect(error?.reason == .depthExceeded)
        #expect(error?.offset == 8)  // refused at the 9th bracket, without scanning further
        #expect(elapsed < .seconds(1))

        let objects = String(repeating: #"{"a":"#, count: 10_000)
        #expect(failure(objects)?.reason == .depthExceeded)
    }

    @Test func hugeDepthLimitDoesNotOverflowTheStack() {
        // With the depth limit lifted, 200,000 open brackets are pushed on a heap stack.
        let limits = JSONParserLimits(maxDepth: .max, maxInputBytes: .max)
        let input = [UInt8](repeating: UInt8(ascii: "["), count: 200_000)
        let error = failure(input, limits: limits)
        #expect(error?.reason == .unexpectedEnd)
        #expect(error?.offset == 200_000)
    }

    @Test func depthLimitIsExact() throws {
        #expect(failure(nested(depth: 8)) == nil)
        #expect(failure(nested(depth: 9))?.reason == .depthExceeded)
        #expect(failure(#"{"a":{"b":1}}"#, limits: JSONParserLimits(maxDepth: 2)) == nil)
        #expect(failure(#"{"a":{"b":[]}}"#, limits: JSONParserLimits(maxDepth: 2))?.reason == .depthExceeded)
        #expect(failure("1", limits: JSONParserLimits(maxDepth: 0)) == nil)
        #expect(failure("[]", limits: JSONParserLimits(maxDepth: 0))?.reason == .depthExceeded)
    }

    @Test func objectMemberLimitIsExact() throws {
        func object(_ count: Int) -> String {
            "{" + (0..<count).map { "\"m\($0)\":\($0)" }.joined(separator: ",") + "}"
        }
        let ok = try parse(object(64))
        #expect(ok.objectValue?.count == 64)
        #expect(ok.objectValue?["m63"]?.int64Value == 63)
        #expect(failure(object(65))?.reason == .tooManyMembers)
    }

    @Test func arrayElementLimitIsExact() throws {
        func array(_ count: Int) -> String { "[" + Array(repeating: "0", count: count).joined(separator: ",") + "]" }
        #expect(try parse(array(1024)).arrayValue?.count == 1024)
        #expect(failure(array(1025))?.reason == .tooManyElements)
    }

    @Test func stringLimitIsExactInBytesAfterUnescaping() throws {
        let max = String(repeating: "x", count: 4096)
        #expect(try parse("\"\(max)\"").stringValue == max)
        #expect(failure("\"\(max)x\"")?.reason == .stringTooLong)
        // Keys are limited too.
        #expect(failure("{\"\(max)x\":1}")?.reason == .stringTooLong)
        // Multi-byte characters count in UTF-8 bytes: 2048 × "é" (2 bytes) is 4096 bytes.
        #expect(failure("\"" + String(repeating: "é", count: 2048) + "\"") == nil)
        #expect(failure("\"" + String(repeating: "é", count: 2048) + "e\"")?.reason == .stringTooLong)
        // Measured after unescaping: 4096 escapes of one byte each are fine, one more is not.
        let escaped = String(repeating: #"\n"#, count: 4096)
        #expect(try parse("\"\(escaped)\"").stringValue?.utf8.count == 4096)
        #expect(failure("\"\(escaped)\\n\"")?.reason == .stringTooLong)
        // \u20AC unescapes to 3 bytes.
        let euros = String(repeating: #"\u20AC"#, count: 1366)  // 4098 bytes
        #expect(failure("\"\(euros)\"")?.reason == .stringTooLong)
    }

    @Test func numberAndInputLimits() {
        let sixtyFour = "1" + String(repeating: "0", count: 63)
        #expect(failure(sixtyFour) == nil)
        #expect(failure(sixtyFour + "0")?.reason == .numberTooLong)
        #expect(failure("[" + String(repeating: "0,", count: 10) + "0]", limits: JSONParserLimits(maxInputBytes: 23)) == nil)
        #expect(failure("[" + String(repeating: "0,", count: 11) + "0]", limits: JSONParserLimits(maxInputBytes: 23))?.reason == .inputTooLarge)
        #expect((try? StrictJSONParser(limits: JSONParserLimits(maxInputBytes: 3)).parse("1234"))  == nil)
    }

    // MARK: Numbers

    @Test func numberLexemesAndInt64() throws {
        let huge = try #require(try parse("1e309").numberValue)
        #expect(huge.text == "1e309")
        #expect(huge.int64 == nil)

        let negativeZero = try #require(try parse("-0").numberValue)
        #expect(negativeZero.isNegativeZero)
        #expect(negativeZero.int64 == nil)
        #expect(try parse("-0.0e1").numberValue?.isNegativeZero == true)
        #expect(try parse("0").numberValue?.isNegativeZero == false)
        #expect(try parse("-0.1").numberValue?.isNegativeZero == false)
        #expect(try parse("0").int64Value == 0)

        #expect(try parse("9223372036854775807").int64Value == .max)
        #expect(try parse("-9223372036854775808").int64Value == .min)
        #expect(try parse("9223372036854775808").int64Value == nil)
        #expect(try parse("-9223372036854775809").int64Value == nil)
        #expect(try parse("99999999999999999999").int64Value == nil)
        #expect(try parse("1.0").int64Value == nil)
        #expect(try parse("1e2").int64Value == nil)
        #expect(try parse("-17").int64Value == -17)
        // Lexemes are kept verbatim.
        #expect(try parse("[1.50E+02]").arrayValue?.first?.numberValue?.text == "1.50E+02")
    }

    @Test("malformed numbers are refused", arguments: [
        "01", "-01", "00", "+1", "1.", ".5", "-", "-.5", "1e", "1e+", "1.e5", "- 1", "[1.]",
    ])
    func malformedNumbers(_ input: String) {
        #expect(failure(input)?.reason == .invalidNumber)
    }

    @Test("non-JSON literals are refused", arguments: ["NaN", "Infinity", "-Infinity", "undefined", "True", "nul"])
    func nonJSONLiterals(_ input: String) {
        #expect(failure(input) != nil)
    }

    @Test func jsonNumberInitValidates() {
        #expect(JSONNumber("12.5e-3")?.text == "12.5e-3")
        #expect(JSONNumber("01") == nil)
        #expect(JSONNumber("1.") == nil)
        #expect(JSONNumber("") == nil)
        #expect(JSONNumber(Int64.min).int64 == .min)
    }

    // MARK: UTF-8

    @Test("invalid raw UTF-8 is refused", arguments: [
        [0xC0, 0xAF],              // overlong '/'
        [0xC1, 0xBF],              // overlong
        [0xE0, 0x80, 0xAF],        // overlong 3-byte
        [0xF0, 0x80, 0x80, 0xAF],  // overlong 4-byte
        [0xED, 0xA0, 0x80],        // UTF-8-encoded surrogate U+D800
        [0xED, 0xBF, 0xBF],        // UTF-8-encoded surrogate U+DFFF
        [0xF4, 0x90, 0x80, 0x80],  // U+110000
        [0xF5, 0x80, 0x80, 0x80],  // invalid lead
        [0xFF],
        [0x80],                    // lone continuation
        [0xC3],                    // truncated 2-byte
        [0xE2, 0x82],              // truncated 3-byte
        [0xF0, 0x9F, 0x98],        // truncated 4-byte
        [0xE2, 0x28, 0xA1],        // bad continuation
    ] as [[UInt8]])
    func invalidUTF8(_ sequence: [UInt8]) {
        #expect(failure(quoted(sequence))?.reason == .invalidUnicode)
        #expect(failure(quoted(Array("a\\n".utf8) + sequence))?.reason == .invalidUnicode)  // escaped path
        #expect(failure(quoted(sequence) + [0x3A])?.reason == .invalidUnicode)
    }

    @Test func truncatedAtEndOfInput() {
        #expect(failure([0x22, 0xE2, 0x82])?.reason == .invalidUnicode)
        #expect(failure([0x22, 0xC3, 0xA9])?.reason == .unexpectedEnd)
    }

    @Test func validUTF8Boundaries() throws {
        let samples: [[UInt8]] = [
            [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80],
            [0xEF, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
        ]
        for sample in samples {
            let value = try StrictJSONParser().parse(quoted(sample))
            #expect(value.stringValue.map { Array($0.utf8) } == sample)
        }
    }

    @Test func surrogateEscapes() throws {
        #expect(try parse(#""\ud83d\ude00""#).stringValue == "😀")
        #expect(try parse(#""\uD83D\uDE00x""#).stringValue == "😀x")
        #expect(try parse(#""\u0000""#).stringValue == "\u{0}")
        for lone in [#""\ud800""#, #""\udc00""#, #""\ud800x""#, #""\ud800\n""#, #""\ud800\u0041""#, #""\ude00\ud83d""#, #""\ud800\ud800""#] {
            #expect(failure(lone)?.reason == .invalidUnicode, "\(lone)")
        }
        #expect(failure(#""\ud800\u12"#)?.reason == .unexpectedEnd)
    }

    @Test func controlCharactersInStringsAreRefused() {
        for byte in UInt8(0)..<0x20 {
            #expect(failure([0x22, 0x61, byte, 0x22])?.reason == .invalidUnicode, "byte \(byte)")
        }
        #expect(failure("\"a\\n\u{1}\"")?.reason == .invalidUnicode)
        // DEL is not a control character per RFC 8259.
        #expect(failure([0x22, 0x7F, 0x22]) == nil)
    }

    // MARK: Structure

    @Test("structural violations", arguments: [
        ("[1,]", Reason.unexpectedByte),
        ("{\"a\":1,}", .unexpectedByte),
        ("[,1]", .unexpectedByte),
        ("{,}", .unexpectedByte),
        ("{\"a\" 1}", .unexpectedByte),
        ("{\"a\":}", .unexpectedByte),
        ("{1:2}", .unexpectedByte),
        ("[1}", .unexpectedByte),
        ("{\"a\":1]", .unexpectedByte),
        ("\u{0B}1", .unexpectedByte),  // vertical tab is not JSON whitespace
        ("1\u{0C}", .trailingData),    // neither is form feed
        ("{}{}", .trailingData),
        ("0x10", .trailingData),
        ("1_000", .trailingData),
        ("[1] ]", .trailingData),
        ("1 // comment", .trailingData),
        ("\"a\" \"b\"", .trailingData),
        ("   ", .unexpectedEnd),
        ("{", .unexpectedEnd),
        ("[1,", .unexpectedEnd),
        ("{\"a\":1", .unexpectedEnd),
    ])
    func structure(_ input: String, _ expected: JSONParseError.Reason) {
        #expect(failure(input)?.reason == expected)
    }
}
