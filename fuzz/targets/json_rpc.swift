// libFuzzer target: StrictJSONParser, the JSON-RPC envelope decoder and ParamsReader validation.
// Compiled together with the BulwarkCore sources it tests (scripts/fuzz), so they are instrumented.
//
// Invariants checked (a violation traps, which libFuzzer reports as a crash):
// - whatever the parser accepts, JSONWriter writes back as text that parses to the same value;
// - a decimal string ParamsReader accepts prints canonically and parses back to the same value.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONRPC(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let parser = StrictJSONParser()
    guard let value = try? parser.parse(bytes) else { return 0 }
    let written = JSONWriter.encode(value)
    guard let reparsed = try? parser.parse(written), reparsed == value else {
        fatalError("round trip changed the document: \(String(decoding: written, as: UTF8.self))")
    }
    guard let request = try? RPCRequestDecoder.decode(value) else { return 0 }
    let orderMembers: Set<String> = ["instrument", "side", "type", "qty", "price", "tif", "client_order_id", "deadline_ms"]
    if let reader = try? ParamsReader(request.params, allowed: orderMembers) {
        for name in ["qty", "price"] {
            if let decimal = try? reader.decimal(name) {
                guard FixedDecimal(parsing: decimal.description) == decimal else {
                    fatalError("decimal \(decimal) does not survive printing")
                }
            }
        }
        _ = try? reader.string("instrument", maxLength: 48)
        _ = try? reader.int("deadline_ms", in: 0...Int64(1) << 53)
    }
    if let reader = try? ParamsReader(request.params, allowed: ["channels", "timeout_ms", "resume"]) {
        _ = try? reader.stringArray("channels", maxCount: 64)
        _ = try? reader.requiredInt("timeout_ms", in: 0...86_400_000)
        if let resume = try? reader.object("resume") {
            _ = try? ParamsReader(resume, allowed: ["session_id", "last_private_seq"], path: "params.resume")
        }
    }
    return 0
}
