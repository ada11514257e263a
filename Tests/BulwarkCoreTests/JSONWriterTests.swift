import BulwarkCore
import Testing

@Suite("JSONWriter")
struct JSONWriterTests {
    @Test func streamingAPIInsertsCommasAndColons() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("jsonrpc")
        writer.string("2.0")
        writer.key("id")
        writer.int(-42)
        writer.key("result")
        writer.beginArray()
        writer.int(1)
        writer.bool(true)
        writer.bool(false)
        writer.null()
        writer.beginObject()
        writer.endObject()
        writer.beginArray()
        writer.endArray()
        writer.uint(.max)
        writer.raw(Array(#"{"pre":"encoded"}"#.utf8))
        writer.string("x")
        writer.endArray()
        writer.key("empty")
        writer.beginObject()
        writer.key("n")
        writer.beginArray()
        writer.beginArray()
        writer.endArray()
        writer.endArray()
        writer.endObject()
        writer.endObject()
        #expect(writer.string == #"{"jsonrpc":"2.0","id":-42,"result":[1,true,false,null,{},[],18446744073709551615,{"pre":"encoded"},"x"],"empty":{"n":[[]]}}"#)
        #expect((try? StrictJSONParser().parse(writer.bytes)) != nil)
    }

    @Test("integers", arguments: [
        (Int64.min, "-9223372036854775808"), (Int64.max, "9223372036854775807"),
        (0, "0"), (-1, "-1"), (9, "9"), (10, "10"), (-100, "-100"),
    ] as [(Int64, String)])
    func integers(_ value: Int64, _ expected: String) throws {
        var writer = JSONWriter()
        writer.int(value)
        #expect(writer.string == expected)
        #expect(try StrictJSONParser().parse(writer.bytes).int64Value == value)
    }

    @Test func unsignedIntegers() {
        for (value, expected) in [(UInt64(0), "0"), (7, "7"), (1234567890, "1234567890"), (.max, "18446744073709551615")] {
            var writer = JSONWriter()
            writer.uint(value)
            #expect(writer.string == expected)
        }
    }

    @Test func escapesSpecialCharacters() {
        let cases: [(String, String)] = [
            ("line\nbreak", #""line\nbreak""#),
            ("\u{1b}[31mred", #""\u001b[31mred""#),
            ("a\u{2028}b\u{2029}c", #""a\u2028b\u2029c""#),
            ("quote\" back\\slash", #""quote\" back\\slash""#),
            ("\r\t\u{8}\u{C}\u{0}\u{1F}", #""\r\t\b\f\u0000\u001f""#),
            ("del\u{7F} é € 😀 /", "\"del\u{7F} é € 😀 /\""),
            ("\u{2027}\u{202A}", "\"\u{2027}\u{202A}\""),  // neighbours of U+2028/9 pass through
            ("", #""""#),
        ]
        for (input, expected) in cases {
            var writer = JSONWriter()
            writer.string(input)
            #expect(writer.string == expected, "\(input.debugDescription)")
        }
    }

    @Test func neverEmitsRawControlCharactersAndRoundTrips() throws {
        var all = ""
        for scalar in 0..<0x20 { all.unicodeScalars.append(Unicode.Scalar(UInt8(scalar))) }
        all += "\u{7F}\u{85}\u{2028}\u{2029}\"\\/ end"
        for input in [all, "\n", "\u{1b}", "\u{2028}", "x\u{2029}"] {
            var writer = JSONWriter()
            writer.beginObject()
            writer.key(input)
            writer.string(input)
            writer.endObject()
            #expect(!writer.bytes.contains { $0 < 0x20 })
            #expect(!writer.string.unicodeScalars.contains { $0 == "\u{2028}" || $0 == "\u{2029}" })
            let parsed = try StrictJSONParser().parse(writer.bytes)
            #expect(parsed.objectValue?.keys == [input])
            #expect(parsed.objectValue?[input]?.stringValue == input)
        }
    }

    @Test func encodesValueTrees() throws {
        let value = JSONValue.object([
            "s": .string("v\n"),
            "n": .number(try #require(JSONNumber("-1.5e3"))),
            "a": .array([.null, .bool(true), .array([]), .object(JSONObject())]),
        ])
        #expect(value.jsonText == #"{"s":"v\n","n":-1.5e3,"a":[null,true,[],{}]}"#)
        #expect(try StrictJSONParser().parse(JSONWriter.encode(value)) == value)
        #expect(String(decoding: JSONWriter.encode(.string("é")), as: UTF8.self) == "\"é\"")
    }

    @Test func valueInsideStreamGetsCommas() {
        var writer = JSONWriter()
        writer.beginArray()
        writer.value(.array([.null]))
        writer.value(.object(["k": .bool(false)]))
        writer.int(3)
        writer.endArray()
        #expect(writer.string == #"[[null],{"k":false},3]"#)
    }

    @Test func deepMixedNestingBeyondSixtyFourLevels() throws {
        var writer = JSONWriter()
        for level in 0..<100 {
            if level.isMultiple(of: 2) {
                writer.beginObject()
                writer.key("o\(level)")
            } else {
                writer.beginArray()
                writer.int(Int64(level))
            }
        }
        writer.null()
        for level in (0..<100).reversed() {
            if level.isMultiple(of: 2) { writer.endObject() } else { writer.endArray() }
        }
        let parsed = try StrictJSONParser(limits: JSONParserLimits(maxDepth: 100)).parse(writer.bytes)
        #expect(JSONWriter.encode(parsed) == writer.bytes)
        #expect(parsed.objectValue?["o0"]?.arrayValue?.first?.int64Value == 1)
        let error = #expect(throws: JSONParseError.self) {
            try StrictJSONParser(limits: JSONParserLimits(maxDepth: 99)).parse(writer.bytes)
        }
        #expect(error?.reason == .depthExceeded)
        // The 100th opener is the last "[" before the innermost value.
        #expect(error?.offset == writer.bytes.lastIndex(of: UInt8(ascii: "[")))
    }

    @Test func memberOrderIsPreserved() throws {
        let text = #"{"z":1,"a":2,"m":3}"#
        let parsed = try StrictJSONParser().parse(text)
        #expect(parsed.jsonText == text)
        #expect(parsed != (try StrictJSONParser().parse(#"{"a":2,"z":1,"m":3}"#)))
    }
}
