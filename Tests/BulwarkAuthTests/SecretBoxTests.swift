import BulwarkAuth
import BulwarkCore
import Testing

@Suite struct SecretBoxTests {
    let box = try! SecretBox(masterKey: [UInt8](repeating: 7, count: 32))
    let secret: [UInt8] = Array("the hmac secret, 32 bytes long!!".utf8)

    @Test func sealsAndOpensBoundToTheRecord() throws {
        let sealed = try box.seal(secret, boundTo: "k_1")
        #expect(sealed.hasPrefix("v1.\(box.keyID)."))
        #expect(!sealed.contains(Base64URL.encode(secret)))
        #expect(try box.open(sealed, boundTo: "k_1") == secret)
        // Copied onto another record, it does not open.
        #expect(throws: SecretBox.Failure.self) { try box.open(sealed, boundTo: "k_2") }
        // Two seals of the same secret differ (fresh nonce).
        #expect(try box.seal(secret, boundTo: "k_1") != sealed)
    }

    @Test func refusesTamperingAndOtherKeys() throws {
        let sealed = try box.seal(secret, boundTo: "k_1")
        var bytes = Array(sealed.utf8)
        bytes[bytes.count - 3] = bytes[bytes.count - 3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(throws: SecretBox.Failure.self) { try box.open(String(decoding: bytes, as: UTF8.self), boundTo: "k_1") }
        let other = try SecretBox(masterKey: [UInt8](repeating: 8, count: 32))
        #expect(throws: SecretBox.Failure.self) { try other.open(sealed, boundTo: "k_1") }
        #expect(throws: SecretBox.Failure.self) { try SecretBox(masterKey: [1, 2, 3]) }
    }
}
