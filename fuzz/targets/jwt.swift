// libFuzzer target: the compact JWS parser every access token, DPoP proof and client assertion goes
// through before its signature is checked (size cap, three segments, canonical base64url, strict
// JSON header and claims with duplicate members refused).
//
// Invariant: a parsed token's signing input is exactly the text before the second dot, and its
// header and claims are JSON objects that the strict parser reads back identically.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJWT(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let token = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let jws = try? CompactJWS(token, maxBytes: 8192) else { return 0 }
    let utf8 = Array(token.utf8)
    guard let secondDot = utf8.indices.filter({ utf8[$0] == UInt8(ascii: ".") }).dropFirst().first,
        Array(utf8[..<secondDot]) == jws.signingInput
    else { fatalError("signing input is not the first two segments") }
    let parser = StrictJSONParser()
    guard (try? parser.parse(JSONWriter.encode(.object(jws.header)))) == .object(jws.header),
        (try? parser.parse(JSONWriter.encode(.object(jws.payload)))) == .object(jws.payload)
    else { fatalError("header or claims do not round-trip") }
    _ = jws.header.string("alg")
    _ = jws.payload.seconds("exp")
    _ = jws.payload.audiences()
    return 0
}
