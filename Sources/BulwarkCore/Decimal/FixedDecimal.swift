/// An exact decimal with 18 fractional digits, stored as `Int128` units of 10^-18.
///
/// Prices, quantities and balances never touch floating point: `0.1 + 0.2` is exactly `0.3`, and the
/// wire grammar (`^(0|[1-9][0-9]{0,17})(\.[0-9]{1,18})?$`) fits with room to spare
/// (10^36 < Int128.max ≈ 1.7 × 10^38).
public struct FixedDecimal: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let units: Int128

    public static let scale = 18
    public static let one: Int128 = 1_000_000_000_000_000_000
    public static let zero = FixedDecimal(units: 0)

    public init(units: Int128) { self.units = units }

    public init(integer: Int64) { units = Int128(integer) * Self.one }

    /// Parses the unsigned wire grammar exactly; anything else is nil.
    public init?(parsing text: String) {
        guard let units = Self.parseUnsigned(Array(text.utf8)) else { return nil }
        self.units = units
    }

    /// Parses an optional leading '-' followed by the wire grammar (configuration, internal use).
    public init?(parsingSigned text: String) {
        let bytes = Array(text.utf8)
        if bytes.first == UInt8(ascii: "-") {
            guard let units = Self.parseUnsigned(Array(bytes.dropFirst())) else { return nil }
            self.units = -units
        } else {
            guard let units = Self.parseUnsigned(bytes) else { return nil }
            self.units = units
        }
    }

    private static func parseUnsigned(_ bytes: [UInt8]) -> Int128? {
        let zero = UInt8(ascii: "0")
        let nine = UInt8(ascii: "9")
        var index = 0
        var integerDigits = 0
        var integer: Int128 = 0
        while index < bytes.count, bytes[index] >= zero, bytes[index] <= nine {
            integer = integer * 10 + Int128(bytes[index] - zero)
            integerDigits += 1
            index += 1
        }
        // No leading zeros ("01"), at least one and at most 18 integer digits.
        guard (1...18).contains(integerDigits), !(integerDigits > 1 && bytes[0] == zero) else { return nil }
        var fraction: Int128 = 0
        var fractionDigits = 0
        if index < bytes.count {
            guard bytes[index] == UInt8(ascii: ".") else { return nil }
            index += 1
            while index < bytes.count, bytes[index] >= zero, bytes[index] <= nine {
                fraction = fraction * 10 + Int128(bytes[index] - zero)
                fractionDigits += 1
                index += 1
            }
            guard (1...18).contains(fractionDigits), index == bytes.count else { return nil }
        }
        var multiplier: Int128 = 1
        for _ in 0..<(scale - fractionDigits) { multiplier *= 10 }
        return integer * one + fraction * multiplier
    }

    /// Canonical text: no trailing fractional zeros, "0" for zero, '-' for negatives.
    public var description: String {
        let negative = units < 0
        let magnitude = negative ? -units : units
        let integer = magnitude / Self.one
        var fraction = magnitude % Self.one
        var text = (negative ? "-" : "") + String(integer)
        if fraction != 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: Self.scale - digits.count) + digits
            while digits.hasSuffix("0") {
                digits.removeLast()
                fraction /= 10
            }
            text += "." + digits
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
    public static func += (lhs: inout FixedDecimal, rhs: FixedDecimal) { lhs = lhs + rhs }
    public static func -= (lhs: inout FixedDecimal, rhs: FixedDecimal) { lhs = lhs - rhs }
    public static func < (lhs: FixedDecimal, rhs: FixedDecimal) -> Bool { lhs.units < rhs.units }

    /// The exact product, truncated toward zero beyond 18 decimals; nil when it does not fit.
    public func multiplied(by other: FixedDecimal) -> FixedDecimal? {
        let negative = (units < 0) != (other.units < 0)
        let a = UInt128(units.magnitude)
        let b = UInt128(other.units.magnitude)
        let (high, low) = a.multipliedFullWidth(by: b)
        let divisor = UInt128(Self.one)
        // The quotient fits in UInt128 only when high < divisor.
        guard high < divisor else { return nil }
        let (quotient, _) = divisor.dividingFullWidth((high, low))
        guard quotient <= UInt128(Int128.max) else { return nil }
        return FixedDecimal(units: negative ? -Int128(quotient) : Int128(quotient))
    }

    /// The exact quotient, truncated toward zero beyond 18 decimals; nil for a zero divisor or
    /// a quotient that does not fit. (`self.units × 10^18` needs 256 bits, hence full width.)
    public func divided(by other: FixedDecimal) -> FixedDecimal? {
        guard other.units != 0 else { return nil }
        let negative = (units < 0) != (other.units < 0)
        let (high, low) = UInt128(units.magnitude).multipliedFullWidth(by: UInt128(Self.one))
        let divisor = UInt128(other.units.magnitude)
        guard high < divisor else { return nil }
        let (quotient, _) = divisor.dividingFullWidth((high, low))
        guard quotient <= UInt128(Int128.max) else { return nil }
        return FixedDecimal(units: negative ? -Int128(quotient) : Int128(quotient))
    }

    /// Whether `self` is a whole multiple of `step` (step > 0): tick and lot checks.
    public func isMultiple(of step: FixedDecimal) -> Bool {
        precondition(step.units > 0, "step must be positive")
        return units % step.units == 0
    }
}
