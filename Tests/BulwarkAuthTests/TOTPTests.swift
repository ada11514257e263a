import BulwarkAuth
import BulwarkCore
import Testing

@Suite struct TOTPTests {
    // RFC 6238 Appendix B seeds: the ASCII digits repeated to the hash's output length.
    static let seedSHA1 = Array("12345678901234567890".utf8)
    static let seedSHA256 = Array("12345678901234567890123456789012".utf8)
    static let seedSHA512 = Array("1234567890123456789012345678901234567890123456789012345678901234".utf8)

    // RFC 6238 Appendix B: (Unix time in seconds, SHA-1, SHA-256, SHA-512), 8 digits, 30 s steps.
    static let appendixB: [(seconds: Int64, sha1: String, sha256: String, sha512: String)] = [
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ]

    @Test func matchesRFC6238AppendixB() throws {
        let sha1 = try TOTP(secret: Self.seedSHA1, algorithm: .sha1, digits: 8)
        let sha256 = try TOTP(secret: Self.seedSHA256, algorithm: .sha256, digits: 8)
        let sha512 = try TOTP(secret: Self.seedSHA512, algorithm: .sha512, digits: 8)
        for row in Self.appendixB {
            let ms = row.seconds * 1000
            #expect(sha1.code(atUnixMs: ms) == row.sha1, "SHA1 at \(row.seconds)")
            #expect(sha256.code(atUnixMs: ms) == row.sha256, "SHA256 at \(row.seconds)")
            #expect(sha512.code(atUnixMs: ms) == row.sha512, "SHA512 at \(row.seconds)")
            #expect(sha1.verify(row.sha1, atUnixMs: ms) == UInt64(row.seconds / 30))
        }
    }

    @Test func seedLengthsMatchTheHashes() {
        #expect(Self.seedSHA1.count == TOTP.Algorithm.sha1.recommendedSecretLength)
        #expect(Self.seedSHA256.count == TOTP.Algorithm.sha256.recommendedSecretLength)
        #expect(Self.seedSHA512.count == TOTP.Algorithm.sha512.recommendedSecretLength)
    }

    @Test func matchesRFC4226AppendixDHOTPValues() throws {
        let expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
        let hotp = try TOTP(secret: Self.seedSHA1)
        for (counter, code) in expected.enumerated() {
            #expect(hotp.code(counter: UInt64(counter)) == code)
        }
    }

    @Test func counterIsTheThirtySecondStep() throws {
        let totp = try TOTP(secret: Self.seedSHA1)
        #expect(totp.counter(atUnixMs: 0) == 0)
        #expect(totp.counter(atUnixMs: 29_999) == 0)
        #expect(totp.counter(atUnixMs: 30_000) == 1)
        #expect(totp.counter(atUnixMs: 1_111_111_109_000) == 0x23523EC)  // RFC 6238 Appendix B "T (hex)"
        #expect(totp.counter(atUnixMs: -5_000) == 0)
        #expect(try TOTP(secret: Self.seedSHA1, periodSeconds: 60).counter(atUnixMs: 120_000) == 2)
    }

    @Test func codesAreZeroPadded() throws {
        let totp = try TOTP(secret: Self.seedSHA1, digits: 8)
        #expect(totp.code(atUnixMs: 1_111_111_109_000) == "07081804")
        for counter in UInt64(0)..<200 { #expect(totp.code(counter: counter).count == 8) }
    }

    @Test func verifyAcceptsOneStepEitherSideAndRefusesTwo() throws {
        let totp = try TOTP(secret: Self.seedSHA1)
        let now: Int64 = 1_700_000_000_000
        let current = totp.counter(atUnixMs: now)
        for offset in -1...1 {
            let code = totp.code(counter: UInt64(Int64(current) + Int64(offset)))
            #expect(totp.verify(code, atUnixMs: now) == UInt64(Int64(current) + Int64(offset)))
        }
        for offset in [-2, 2] {
            let code = totp.code(counter: UInt64(Int64(current) + Int64(offset)))
            #expect(totp.verify(code, atUnixMs: now) == nil)
            #expect(totp.verify(code, atUnixMs: now, window: 2) == UInt64(Int64(current) + Int64(offset)))
        }
        let previous = totp.code(counter: current - 1)
        #expect(totp.verify(previous, atUnixMs: now, window: 0) == nil)
    }

    @Test(arguments: ["", "12345", "1234567", "12345a", "12 345", "-12345", "１２３４５６", "123456\n"])
    func verifyRefusesMalformedCodes(_ code: String) throws {
        let totp = try TOTP(secret: Self.seedSHA1)
        #expect(totp.verify(code, atUnixMs: 59_000) == nil)
    }

    @Test func verifyRefusesAWrongCode() throws {
        let totp = try TOTP(secret: Self.seedSHA1)
        let right = totp.code(atUnixMs: 59_000)
        let wrong = String(right.dropLast()) + (right.last == "0" ? "1" : "0")
        #expect(totp.verify(right, atUnixMs: 59_000) == 1)
        #expect(totp.verify(wrong, atUnixMs: 59_000) == nil)
    }

    @Test func verifyNearTheEpochDoesNotUnderflow() throws {
        let totp = try TOTP(secret: Self.seedSHA1)
        #expect(totp.verify(totp.code(counter: 0), atUnixMs: 0) == 0)
        #expect(totp.verify(totp.code(counter: 1), atUnixMs: 0) == 1)
    }

    @Test func refusesWeakOrOddParameters() {
        #expect(throws: TOTP.ConfigurationError.secretTooShort(bytes: 15)) { try TOTP(secret: [UInt8](repeating: 1, count: 15)) }
        #expect(throws: TOTP.ConfigurationError.unsupportedDigits(5)) { try TOTP(secret: Self.seedSHA1, digits: 5) }
        #expect(throws: TOTP.ConfigurationError.unsupportedDigits(9)) { try TOTP(secret: Self.seedSHA1, digits: 9) }
        #expect(throws: TOTP.ConfigurationError.unsupportedPeriod(10)) { try TOTP(secret: Self.seedSHA1, periodSeconds: 10) }
        #expect(throws: TOTP.ConfigurationError.unsupportedPeriod(300)) { try TOTP(secret: Self.seedSHA1, periodSeconds: 300) }
        #expect(throws: Never.self) { try TOTP(secret: [UInt8](repeating: 1, count: 16)) }
    }

    @Test func generatedSecretsHaveTheHashLengthAndDiffer() {
        for algorithm in TOTP.Algorithm.allCases {
            let first = TOTP.generateSecret(for: algorithm)
            #expect(first.count == algorithm.recommendedSecretLength)
            #expect(first != TOTP.generateSecret(for: algorithm))
        }
    }

    @Test func otpauthURIFollowsTheKeyUriFormat() throws {
        let totp = try TOTP(secret: Self.seedSHA1)
        let uri = totp.otpauthURI(issuer: "Bulwark", accountName: "alice@example.com")
        #expect(uri == "otpauth://totp/Bulwark:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            + "&issuer=Bulwark&algorithm=SHA1&digits=6&period=30")
    }

    @Test func otpauthURIPercentEncodesLabelAndIssuer() throws {
        let totp = try TOTP(secret: Self.seedSHA512, algorithm: .sha512, digits: 8, periodSeconds: 60)
        let uri = totp.otpauthURI(issuer: "Acme Co: Trading", accountName: "bob smith/é~._-")
        #expect(uri.hasPrefix("otpauth://totp/Acme%20Co%3A%20Trading:bob%20smith%2F%C3%A9~._-?secret="))
        #expect(uri.hasSuffix("&issuer=Acme%20Co%3A%20Trading&algorithm=SHA512&digits=8&period=60"))
    }

    @Test func otpauthSecretDecodesBackToTheSecret() throws {
        for algorithm in TOTP.Algorithm.allCases {
            let totp = try TOTP(secret: TOTP.generateSecret(for: algorithm), algorithm: algorithm)
            let uri = totp.otpauthURI(issuer: "Bulwark", accountName: "alice")
            let query = uri.split(separator: "?", maxSplits: 1)[1]
            let parameters = query.split(separator: "&").map { $0.split(separator: "=", maxSplits: 1).map(String.init) }
            let secret = try #require(parameters.first { $0[0] == "secret" })[1]
            #expect(!secret.contains("="))
            #expect(Base32.decode(secret) == totp.secret)
            #expect(parameters.contains(["algorithm", algorithm.rawValue]))
        }
    }
}
