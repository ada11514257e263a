import BulwarkCore
import Testing

@Suite struct RPCRequestDecoderTests {
    private func decode(_ text: String) throws -> RPCRequest {
        try RPCRequestDecoder.decode(StrictJSONParser().parse(text))
    }

    private func failure(_ text: String) -> RPCRequestDecoder.Failure? {
        do {
            _ = try decode(text)
            return nil
        } catch let failure as RPCRequestDecoder.Failure {
            return failure
        } catch {
            return nil
        }
    }

    @Test func decodesAValidRequest() throws {
        let request = try decode(#"{"jsonrpc":"2.0","id":7,"method":"public/time","params":{"a":1}}"#)
        #expect(request.id == .int(7))
        #expect(request.method == "public/time")
        #expect(request.params["a"]?.int64Value == 1)
        #expect(try decode(#"{"jsonrpc":"2.0","id":"x","method":"m"}"#).params.isEmpty)
    }

    @Test func idBounds() throws {
        #expect(try decode(#"{"jsonrpc":"2.0","id":9007199254740991,"method":"m"}"#).id == .int(9_007_199_254_740_991))
        #expect(failure(#"{"jsonrpc":"2.0","id":9007199254740992,"method":"m"}"#)?.error.code == .invalidRequest)
        #expect(failure(#"{"jsonrpc":"2.0","id":-1,"method":"m"}"#)?.error.code == .invalidRequest)
        #expect(failure(#"{"jsonrpc":"2.0","id":1.0,"method":"m"}"#)?.error.code == .invalidRequest)
        let long = String(repeating: "a", count: 65)
        #expect(failure(#"{"jsonrpc":"2.0","id":"\#(long)","method":"m"}"#)?.error.code == .invalidRequest)
        #expect(failure(#"{"jsonrpc":"2.0","method":"m"}"#)?.error.code == .invalidRequest)
    }

    @Test func envelopeRules() {
        #expect(failure(#"[]"#)?.error.code == .invalidRequest)
        #expect(failure(#"{"jsonrpc":"1.0","id":1,"method":"m"}"#)?.id == .int(1))
        #expect(failure(#"{"jsonrpc":"2.0","id":1,"method":"m","extra":true}"#)?.error.field == "extra")
        #expect(failure(#"{"jsonrpc":"2.0","id":1,"method":""}"#)?.error.code == .invalidRequest)
        #expect(failure(#"{"jsonrpc":"2.0","id":1,"method":"m","params":[1]}"#)?.error.code == .invalidParams)
    }
}

@Suite struct ParamsReaderTests {
    private func reader(_ text: String, allowed: Set<String>) throws(RPCError) -> ParamsReader {
        let object = (try? StrictJSONParser().parse(text))?.objectValue ?? JSONObject()
        return try ParamsReader(object, allowed: allowed)
    }

    @Test func unknownMembersAreRejectedByName() {
        #expect(throws: RPCError.invalidParams("account_id", "unknown_member")) {
            try reader(#"{"qty":"1","account_id":"a_x"}"#, allowed: ["qty"])
        }
    }

    @Test func decimalsMustBeStringsOfTheWireGrammar() throws {
        let r = try reader(#"{"a":"1.5","b":1.5,"c":"1e3","d":"-1","e":"0.000000000000000001"}"#, allowed: ["a", "b", "c", "d", "e"])
        #expect(try r.decimal("a")?.description == "1.5")
        #expect(throws: RPCError.invalidParams("b", "expected_decimal_string")) { try r.decimal("b") }
        #expect(throws: RPCError.invalidParams("c", "invalid_decimal")) { try r.decimal("c") }
        #expect(throws: RPCError.invalidParams("d", "invalid_decimal")) { try r.decimal("d") }
        #expect(try r.decimal("e")?.units == 1)
    }

    @Test func integersRefuseFloatsAndRange() throws {
        let r = try reader(#"{"a":5,"b":5.0,"c":1e3,"d":-0,"e":99}"#, allowed: ["a", "b", "c", "d", "e"])
        #expect(try r.int("a") == 5)
        #expect(throws: RPCError.invalidParams("b", "expected_integer")) { try r.int("b") }
        #expect(throws: RPCError.invalidParams("c", "expected_integer")) { try r.int("c") }
        #expect(throws: RPCError.invalidParams("d", "expected_integer")) { try r.int("d") }
        #expect(throws: RPCError.invalidParams("e", "out_of_range")) { try r.int("e", in: 0...10) }
        #expect(throws: RPCError.invalidParams("z", "required")) { try r.requiredInt("z") }
    }

    @Test func stringsAndArrays() throws {
        let r = try reader(#"{"s":"abc","n":1,"list":["x",2],"long":"abcdef"}"#, allowed: ["s", "n", "list", "long"])
        #expect(try r.string("s") == "abc")
        #expect(throws: RPCError.invalidParams("n", "expected_string")) { try r.string("n") }
        #expect(throws: RPCError.invalidParams("list[1]", "expected_string")) { try r.stringArray("list", maxCount: 5) }
        #expect(throws: RPCError.invalidParams("list", "too_many_items")) { try r.stringArray("list", maxCount: 1) }
        #expect(throws: RPCError.invalidParams("long", "too_long")) { try r.string("long", maxLength: 3) }
    }
}
