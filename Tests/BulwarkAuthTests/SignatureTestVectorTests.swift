import BulwarkAuth
import BulwarkCore
import Foundation
import Testing

/// docs/vectors/signature-grant.json must be what the code produces, so the docs cannot drift.
@Suite struct SignatureTestVectorTests {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/vectors/signature-grant.json").path

    func committed() throws -> [JSONObject] {
        let text = try String(contentsOfFile: Self.path, encoding: .utf8)
        return try #require(try StrictJSONParser(limits: JSONParserLimits(maxStringBytes: 1 << 16)).parse(text).arrayValue?.compactMap(\.objectValue))
    }

    @Test func ed25519VectorIsRegeneratedExactly() throws {
        let document = try committed()
        let generated = try StrictJSONParser().parse(SignatureTestVectors.document([try SignatureTestVectors.ed25519()]))
        #expect(document.first == generated.arrayValue?.first?.objectValue)
    }

    @Test func everyCommittedVectorVerifies() throws {
        for vector in try committed() {
            let algorithm = try #require(KeyAlgorithm(rawValue: vector["key_type"]?.stringValue ?? ""))
            let text = SigningString(
                keyID: vector["key_id"]!.stringValue!, challenge: vector["challenge"]!.stringValue!,
                timestampMs: vector["timestamp_ms"]!.int64Value!, nonce: vector["nonce"]!.stringValue!,
                scopes: vector["scopes"]!.arrayValue!.compactMap(\.stringValue), keyExchangeHash: nil)
            #expect(text.text == vector["signing_string"]?.stringValue)
            if algorithm == .hmacSHA256 {
                #expect(vector["signature"]?.stringValue == SignatureTestVectors.hmacSHA256().signature)
                continue
            }
            let ok = SignatureVerifier.isValid(
                signature: Base64URL.decode(vector["signature"]!.stringValue!)!, message: text.bytes, algorithm: algorithm,
                publicKey: Base64URL.decode(vector["public_key"]!.stringValue!)!)
            #expect(ok, "\(algorithm)")
        }
    }
}
