import BulwarkAuth
import Crypto
import Testing

@Suite struct RecoveryCodesTests {
    static let unambiguous = Set("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")

    @Test func generatesTenGroupedCodesFromTheUnambiguousAlphabet() {
        let codes = RecoveryCodes.generate()
        #expect(codes.count == 10)
        #expect(Set(codes).count == 10)
        for code in codes {
            let groups = code.split(separator: "-", omittingEmptySubsequences: false)
            #expect(groups.count == 4)
            #expect(groups.allSatisfy { $0.count == 4 })
            // 16 symbols × 5 bits = 80 bits.
            #expect(groups.joined().allSatisfy { Self.unambiguous.contains($0) })
        }
        #expect(RecoveryCodes.generate(count: 3).count == 3)
        #expect(RecoveryCodes.generate(count: 0).isEmpty)
        #expect(RecoveryCodes.entropyBits >= 80)
    }

    @Test func everySymbolTurnsUp() {
        // 200 codes × 16 symbols: each of the 32 symbols is expected ~100 times, so a missing one
        // would mean a broken bit extraction, not bad luck.
        let seen = Set(RecoveryCodes.generate(count: 200).joined().filter { $0 != "-" })
        #expect(seen == Self.unambiguous)
    }

    @Test func normalizeUppercasesAndStripsSeparators() {
        #expect(RecoveryCodes.normalize("7kxm qf3n-wb9r hj2t") == "7KXMQF3NWB9RHJ2T")
        #expect(RecoveryCodes.normalize(" ABCD-EFGH ") == "ABCDEFGH")
        #expect(RecoveryCodes.normalize("") == "")
    }

    @Test func hashIsHexSHA256OfTheNormalizedCode() {
        let expected = SHA256.hash(data: Array("7KXMQF3NWB9RHJ2T".utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
        #expect(RecoveryCodes.hash("7kxm-qf3n-wb9r-hj2t") == expected)
        #expect(RecoveryCodes.hash("7KXMQF3NWB9RHJ2T") == expected)
        #expect(expected.count == 64)
    }

    @Test func hashOfAKnownInput() {
        // SHA-256("ABC"), an independently known value (e.g. `printf ABC | sha256sum`).
        #expect(RecoveryCodes.hash("a-b c") == "b5d4045c3f466fa91fe2cc6abe79232a1a57cdf104f7a26e716e0a1e2789df78")
    }

    @Test func matchesOnlyTheRightCode() {
        let codes = RecoveryCodes.generate(count: 2)
        let stored = RecoveryCodes.hash(codes[0])
        #expect(RecoveryCodes.matches(codes[0], hash: stored))
        #expect(RecoveryCodes.matches(String(codes[0].lowercased().map { $0 == "-" ? " " : $0 }), hash: stored))
        #expect(RecoveryCodes.matches(codes[0], hash: stored.uppercased()))
        #expect(!RecoveryCodes.matches(codes[1], hash: stored))
        #expect(!RecoveryCodes.matches(codes[0], hash: ""))
        #expect(!RecoveryCodes.matches(codes[0], hash: String(stored.dropLast())))
    }
}
