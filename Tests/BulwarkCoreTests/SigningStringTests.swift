import BulwarkCore
import Testing

@Suite struct SigningStringTests {
    @Test func joinsSevenLinesWithoutTrailingNewline() {
        let string = SigningString(
            keyID: "k_1", challenge: "ch", timestampMs: 1_732_300_000_000, nonce: "n", scopes: ["trade", "read"], keyExchangeHash: nil)
        #expect(string.text == "BULWARK-AUTH-1\nk_1\nch\n1732300000000\nn\nread trade\n")
        #expect(!string.text.hasSuffix("\n\n"))
    }

    @Test func omittedScopesGiveAnEmptyLine() {
        let string = SigningString(keyID: "k", challenge: "c", timestampMs: 1, nonce: "n", scopes: nil, keyExchangeHash: "h")
        #expect(string.text.split(separator: "\n", omittingEmptySubsequences: false) == ["BULWARK-AUTH-1", "k", "c", "1", "n", "", "h"])
    }

    @Test func scopeOrderDoesNotMatter() {
        let a = SigningString(keyID: "k", challenge: "c", timestampMs: 1, nonce: "n", scopes: ["trade", "cancel", "read"], keyExchangeHash: nil)
        let b = SigningString(keyID: "k", challenge: "c", timestampMs: 1, nonce: "n", scopes: ["read", "trade", "cancel"], keyExchangeHash: nil)
        #expect(a == b)
    }

    @Test func keyExchangeHashIsSHA256OfTheConcatenatedShares() {
        // SHA-256 of the empty input, base64url: a fixed, independently known value.
        #expect(SigningString.keyExchangeHash(x25519: [], mlkem768: nil) == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU")
        #expect(SigningString.keyExchangeHash(x25519: [1, 2], mlkem768: [3]) == SigningString.keyExchangeHash(x25519: [1, 2, 3], mlkem768: nil))
    }
}
