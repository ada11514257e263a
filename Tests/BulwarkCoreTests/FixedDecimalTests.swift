@testable import BulwarkCore
import Testing

@Suite struct FixedDecimalTests {
    /// Test values: the signed grammar, or an integer beyond its 18 digits (products can be).
    private func d(_ text: String) -> FixedDecimal {
        if let value = FixedDecimal(parsingSigned: text) { return value }
        return FixedDecimal(units: Int128(text)! * FixedDecimal.one)
    }

    // MARK: Parsing

    @Test(arguments: [
        ("0", Int128(0)),
        ("1", Int128(1_000_000_000_000_000_000)),
        ("0.5", Int128(500_000_000_000_000_000)),
        ("27000.5", Int128(27_000_500_000_000_000_000_000)),
        ("0.000000000000000001", Int128(1)),
        ("0.00000001", Int128(10_000_000_000)),
        ("1.10", Int128(1_100_000_000_000_000_000)),
        ("0.0", Int128(0)),
        ("999999999999999999", Int128(999_999_999_999_999_999) * 1_000_000_000_000_000_000),
        ("999999999999999999.999999999999999999", Int128(999_999_999_999_999_999_999_999_999_999_999_999)),
    ])
    func acceptsTheWireGrammar(text: String, units: Int128) {
        #expect(FixedDecimal(parsing: text)?.units == units, "\(text)")
    }

    @Test(arguments: [
        "", "01", "00", "00.5", "1.", ".5", ".", "1e5", "1E5", "1.5e3", "-1", "+1", "-0", " 1", "1 ", "1,5",
        "1.2.3", "0x10", "١", "１",
        "1000000000000000000",  // 19 integer digits
        "0.0000000000000000001",  // 19 fraction digits
        "1.1234567890123456789",
        String(repeating: "9", count: 60),  // would overflow Int128 if accumulated blindly
        "0." + String(repeating: "9", count: 60),
        String(repeating: "1", count: 40) + ".5",
    ])
    func rejectsEverythingElse(text: String) {
        #expect(FixedDecimal(parsing: text) == nil, "\(text)")
    }

    @Test func signedParserAcceptsOneLeadingMinus() {
        #expect(FixedDecimal(parsingSigned: "-1.5")?.units == -1_500_000_000_000_000_000)
        #expect(FixedDecimal(parsingSigned: "2")?.units == 2_000_000_000_000_000_000)
        #expect(FixedDecimal(parsingSigned: "-0")?.units == 0)
        for bad in ["--1", "-", "-01", "- 1", "1-", "-.5", "-1.", "+1", ""] {
            #expect(FixedDecimal(parsingSigned: bad) == nil, "\(bad)")
        }
    }

    // MARK: Canonical output

    @Test(arguments: [
        ("0", "0"), ("0.0", "0"), ("1.10", "1.1"), ("27000.50", "27000.5"), ("0.00000001", "0.00000001"),
        ("0.000000000000000001", "0.000000000000000001"), ("100", "100"), ("-3", "-3"), ("-0.25", "-0.25"),
        ("999999999999999999.999999999999999999", "999999999999999999.999999999999999999"),
    ])
    func descriptionIsCanonical(input: String, expected: String) {
        #expect(d(input).description == expected)
    }

    @Test func descriptionRoundTripsThroughTheParser() {
        for text in ["0", "1", "0.1", "12.000000000000000001", "60000", "0.0005"] {
            #expect(FixedDecimal(parsing: text)?.description == text)
        }
        #expect(FixedDecimal(units: Int128.max).description == "170141183460469231731.687303715884105727")
        #expect(FixedDecimal(units: Int128.min).description == "-170141183460469231731.687303715884105728")
    }

    // MARK: Arithmetic

    @Test func additionAndSubtractionAreExact() {
        #expect(d("0.1") + d("0.2") == d("0.3"))
        #expect(d("1") - d("1.000000000000000001") == d("-0.000000000000000001"))
        var x = d("5")
        x += d("0.5")
        x -= d("2")
        #expect(x == d("3.5"))
        #expect(-d("2") == d("-2"))
        #expect(d("2").negated == d("-2"))
        #expect(d("-2").magnitude == d("2"))
    }

    @Test func integerInitAndPredicates() {
        #expect(FixedDecimal(integer: 42) == d("42"))
        #expect(FixedDecimal(integer: -7) == d("-7"))
        #expect(FixedDecimal(integer: Int64.max).description == "9223372036854775807")
        #expect(FixedDecimal.zero.isZero && !FixedDecimal.zero.isPositive && !FixedDecimal.zero.isNegative)
        #expect(d("0.000000000000000001").isPositive)
        #expect(d("-0.000000000000000001").isNegative)
        #expect(FixedDecimal(units: 5).units == 5)
        #expect(FixedDecimal.scale == 18)
    }

    @Test func comparisonMinAndMax() {
        #expect(d("1.5") < d("2"))
        #expect(d("-2") < d("-1.5"))
        #expect(min(d("3"), d("0.3")) == d("0.3"))
        #expect(max(d("3"), d("0.3")) == d("3"))
        #expect([d("2"), d("-1"), d("0.5")].sorted() == [d("-1"), d("0.5"), d("2")])
    }

    @Test(arguments: [
        ("27000.5", "0.0001", "2.70005"),
        ("60000", "0.01", "600"),
        ("0.000000001", "0.000000001", "0.000000000000000001"),  // exactly 18 decimals
        ("0.000000000000000001", "1", "0.000000000000000001"),
        ("999999999999999999", "100", "99999999999999999900"),  // beyond 64 bits, exact
        ("123456789.123456789", "987654321.987654321", "121932631356500531.347203169112635269"),
        ("-1.5", "2", "-3"),
        ("-1.5", "-2", "3"),
        ("0", "999999999999999999.999999999999999999", "0"),
    ])
    func multiplicationIsExact(a: String, b: String, product: String) {
        #expect(d(a).multiplied(by: d(b)) == d(product), "\(a) × \(b)")
        #expect(d(b).multiplied(by: d(a)) == d(product), "commutes")
    }

    @Test func multiplicationTruncatesTowardZeroBeyond18Decimals() {
        #expect(d("0.000000001").multiplied(by: d("0.0000000001")) == .zero)
        #expect(d("0.000000000000000001").multiplied(by: d("0.5")) == .zero)
        #expect(d("0.000000000000000003").multiplied(by: d("0.5")) == d("0.000000000000000001"))
        #expect(d("-0.000000000000000003").multiplied(by: d("0.5")) == d("-0.000000000000000001"))
        // A fee rate on a notional with 18 decimals: the 19th decimal is dropped.
        #expect(d("1.000000000000000001").multiplied(by: d("0.0005")) == d("0.0005"))
    }

    @Test func multiplicationOverflowIsNil() {
        let big = d("999999999999999999.999999999999999999")
        #expect(big.multiplied(by: big) == nil)
        #expect(big.multiplied(by: d("1000")) == nil)
        #expect(FixedDecimal(units: Int128.max).multiplied(by: d("1")) == FixedDecimal(units: Int128.max))
        #expect(FixedDecimal(units: Int128.max).multiplied(by: d("1.000000000000000001")) == nil)
        #expect(FixedDecimal(units: Int128.max).multiplied(by: d("-1")) == FixedDecimal(units: -Int128.max))
        // Largest product that still fits: 10^20 × 1.7 (units 1.7 × 10^38 < Int128.max).
        #expect(d("100000000000000000000").multiplied(by: d("1.7")) == d("170000000000000000000"))
        #expect(d("100000000000000000000").multiplied(by: d("1.8")) == nil)
    }

    @Test func divisionTruncatesAndRefusesZero() {
        #expect(d("1").divided(by: d("3")) == d("0.333333333333333333"))
        #expect(d("-1").divided(by: d("3")) == d("-0.333333333333333333"))
        #expect(d("600.6").divided(by: d("0.01")) == d("60060"))
        #expect(d("1").divided(by: .zero) == nil)
        #expect(d("999999999999999999").divided(by: d("0.000000000000000001")) == nil)
    }

    @Test func isMultipleOfStep() {
        #expect(d("27000.5").isMultiple(of: d("0.5")))
        #expect(!d("27000.25").isMultiple(of: d("0.5")))
        #expect(d("0.0003").isMultiple(of: d("0.0001")))
        #expect(!d("0.00035").isMultiple(of: d("0.0001")))
        #expect(FixedDecimal.zero.isMultiple(of: d("0.01")))
        #expect(d("-1.5").isMultiple(of: d("0.5")))
        #expect(d("100").isMultiple(of: d("5")))
        #expect(!d("0.000000000000000001").isMultiple(of: d("0.000000000000000002")))
    }

    @Test func hashableAgreesWithEquality() {
        let set: Set<FixedDecimal> = [d("1.10"), d("1.1"), d("1.100000000000000000")]
        #expect(set.count == 1)
    }
}
