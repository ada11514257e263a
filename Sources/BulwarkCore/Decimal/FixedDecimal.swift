/// An exact decimal with 18 fractional digits, stored as `Int128` units of 10^-18.
///
/// Prices, quantities and balances never touch floating point: `0.1 + 0.2` is exactly `0.3`, and the
/// wire grammar (`^(0|[1-9][0-9]{0,17})(\.[0-9]{1,18})?$`) fits with room to spare
/// (10^36 < Int128.max ≈ 1.7 × 10^38).
///
/// - `+` and `-` trap on overflow (like `Int`): every value that reaches them is bounded by the
///   wire grammar or by deposit caps, far below the limit.
/// - `multiplied(by:)` and `divided(by:)` are exact when the result fits at 18 decimals, truncate
///   toward zero any digits beyond the 18th, and return nil instead of overflowing.
public struct FixedDecimal: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The value in units of 10^-18.
    public let units: Int128

    /// Number of fractional digits.
    public static let scale = 18
    /// Units in 1 (10^18).
    public static let one: Int128 = 1_000_000_000_000_000_000
    public static let zero = FixedDecimal(units: 0)

    /// Longest integer and fraction parts the grammar accepts.
    static let maxIntegerDigits = 18
    static let maxFractionDigits = 18

    public init(units: Int128) { self.units = units }

    /// An integral value (exact: |Int64| × 10^18 < 10^38).
    public init(integer: Int64) { units = Int128(integer) * Self.one }

    /// Parses the unsigned wire grammar `^(0|[1-9][0-9]{0,17})(\.[0-9]{1,18})?$` exactly; anything
    /// else (sign, exponent, leading zeros, "1.", ".5", too many digits, empty) is nil.
    public init?(parsing text: String) {
        guard let units = Self.parseUnsigned(text.utf8[...]) else { return nil }
        self.units = units
    }

    /// The wire grammar with an optional leading '-' (configuration and internal use; "-0" is zero).
    public init?(parsingSigned text: String) {
        var bytes = text.utf8[...]
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { bytes = bytes.dropFirst() }
        guard let units = Self.parseUnsigned(bytes) else { return nil }
        self.units = negative ? -units : units
    }

    /// Never overflows: digits are counted before they are accumulated, so an arbitrarily long
    /// input is refused instead of trapping.
    private static func parseUnsigned(_ bytes: Substring.UTF8View) -> Int128? {
        let zero = UInt8(ascii: "0")
        func isDigit(_ byte: UInt8) -> Bool { byte >= zero && byte <= zero + 9 }

        var index = bytes.startIndex
        var integer: Int128 = 0
        var integerDigits = 0
        while index < bytes.endIndex, isDigit(bytes[index]) {
            integerDigits += 1
            guard integerDigits <= maxIntegerDigits else { return nil }
            integer = integer * 10 + Int128(bytes[index] - zero)
            index = bytes.index(after: index)
        }
        // At least one integer digit, and no leading zero unless the integer part is exactly "0".
        guard integerDigits >= 1, !(integerDigits > 1 && bytes[bytes.startIndex] == zero) else { return nil }

        var fraction: Int128 = 0
        var fractionDigits = 0
        if index < bytes.endIndex {
            guard bytes[index] == UInt8(ascii: ".") else { return nil }
            index = bytes.index(after: index)
            while index < bytes.endIndex, isDigit(bytes[index]) {
                fractionDigits += 1
                guard fractionDigits <= maxFractionDigits else { return nil }
                fraction = fraction * 10 + Int128(bytes[index] - zero)
                index = bytes.index(after: index)
            }
            // "1." has no fraction digits; anything after the digits ("1.5x", "1.5e3") is refused.
            guard fractionDigits >= 1, index == bytes.endIndex else { return nil }
        }
        return integer * one + fraction * pow10(scale - fractionDigits)
    }

    private static func pow10(_ exponent: Int) -> Int128 {
        var result: Int128 = 1
        for _ in 0..<exponent { result *= 10 }
        return result
    }

    /// Canonical text: no trailing fractional zeros and no trailing '.', "0" for zero, a leading
    /// '-' for negatives ("27000.5", "0.00000001", "-3").
    public var description: String {
        let magnitude = units.magnitude
        let unitsPerOne = UInt128(Self.one)
        let integer = magnitude / unitsPerOne
        let fraction = magnitude % unitsPerOne
        var text = units < 0 ? "-" : ""
        text += String(integer)
        if fraction != 0 {
            var digits = Array(String(fraction).utf8)
            digits.insert(contentsOf: repeatElement(UInt8(ascii: "0"), count: Self.scale - digits.count), at: 0)
            while digits.last == UInt8(ascii: "0") { digits.removeLast() }
            text += "."
            text += String(decoding: digits, as: UTF8.self)
        }
        return text
    }

    public var isZero: Bool { units == 0 }
    public var isPositive: Bool { units > 0 }
    public var isNegative: Bool { units < 0 }
    public var negated: FixedDecimal { FixedDecimal(units: -units) }
    public var magnitude: FixedDecimal { FixedDecimal(units: units < 0 ? -units : units) }

    public static func + (lhs: FixedDecimal, rhs: FixedDecimal) -> FixedDecimal { FixedDecimal(units: lhs.units + rhs.units) }
    public static func - (lhs: FixedDecimal, rhs: FixedDecimal) -> FixedDecimal { FixedDecimal(units: lhs.units - rhs.units) }
    public static prefix func - (value: FixedDecimal) -> FixedDecimal { value.negated }
    public static func += (lhs: inout FixedDecimal, rhs: FixedDecimal) { lhs = lhs + rhs }
    public static func -= (lhs: inout FixedDecimal, rhs: FixedDecimal) { lhs = lhs - rhs }
    public static func < (lhs: FixedDecimal, rhs: FixedDecimal) -> Bool { lhs.units < rhs.units }

    /// The product, computed at full width (256 bits) and divided by 10^18: exact whenever it
    /// has at most 18 decimals, otherwise truncated toward zero after the 18th decimal
    /// (0.000000001 × 0.000000001 × 0.1 is 0). Nil when the result does not fit in `Int128`.
    public func multiplied(by other: FixedDecimal) -> FixedDecimal? {
        let negative = (units < 0) != (other.units < 0)
        let (high, low) = units.magnitude.multipliedFullWidth(by: other.units.magnitude)
        let divisor = UInt128(Self.one)
        // The 256-bit ÷ 128-bit quotient fits in 128 bits only when high < divisor.
        guard high < divisor else { return nil }
        let (quotient, _) = divisor.dividingFullWidth((high, low))
        return Self.signed(quotient, negative: negative)
    }

    /// The quotient, truncated toward zero beyond 18 decimals; nil for a zero divisor or a
    /// quotient that does not fit. (`self.units × 10^18` needs 256 bits, hence full width.)
    public func divided(by other: FixedDecimal) -> FixedDecimal? {
        guard other.units != 0 else { return nil }
        let negative = (units < 0) != (other.units < 0)
        let (high, low) = units.magnitude.multipliedFullWidth(by: UInt128(Self.one))
        let divisor = other.units.magnitude
        guard high < divisor else { return nil }
        let (quotient, _) = divisor.dividingFullWidth((high, low))
        return Self.signed(quotient, negative: negative)
    }

    private static func signed(_ magnitude: UInt128, negative: Bool) -> FixedDecimal? {
        guard magnitude <= UInt128(Int128.max) else { return nil }
        let value = Int128(magnitude)
        return FixedDecimal(units: negative ? -value : value)
    }

    /// Whether `self` is a whole multiple of `step` (tick and lot checks). `step` must be positive.
    public func isMultiple(of step: FixedDecimal) -> Bool {
        precondition(step.units > 0, "step must be positive")
        return units % step.units == 0
    }
}
