/// Reads a method's `params` object strictly: members outside `allowed` are rejected up front
/// (PROTOCOL.md §2, "never ignored": a mass-assignment field such as `account_id` in an order is an
/// error, not a silent no-op), and every getter names the offending field in its error.
public struct ParamsReader: Sendable {
    public let object: JSONObject
    /// Where this object sits inside `params` (`kx.` for `params.kx`), so errors name the full path.
    public let path: String

    public init(_ object: JSONObject, allowed: Set<String>, path: String = "") throws(RPCError) {
        for key in object.keys where !allowed.contains(key) {
            throw RPCError.invalidParams(path + key, "unknown_member")
        }
        self.object = object
        self.path = path
    }

    public func has(_ key: String) -> Bool { object[key] != nil }

    public func string(_ key: String, maxLength: Int = 256) throws(RPCError) -> String? {
        guard let value = object[key] else { return nil }
        guard case .string(let text) = value else { throw .invalidParams(path + key, "expected_string") }
        guard text.utf8.count <= maxLength else { throw .invalidParams(path + key, "too_long") }
        return text
    }

    public func requiredString(_ key: String, maxLength: Int = 256) throws(RPCError) -> String {
        guard let text = try string(key, maxLength: maxLength) else { throw .invalidParams(path + key, "required") }
        return text
    }

    /// An integer member; floats, exponents, `-0` and values beyond Int64 are refused.
    public func int(_ key: String, in range: ClosedRange<Int64>? = nil) throws(RPCError) -> Int64? {
        guard let value = object[key] else { return nil }
        guard case .number(let number) = value, let integer = number.int64 else {
            throw .invalidParams(path + key, "expected_integer")
        }
        if let range, !range.contains(integer) { throw .invalidParams(path + key, "out_of_range") }
        return integer
    }

    public func requiredInt(_ key: String, in range: ClosedRange<Int64>? = nil) throws(RPCError) -> Int64 {
        guard let integer = try int(key, in: range) else { throw .invalidParams(path + key, "required") }
        return integer
    }

    public func bool(_ key: String) throws(RPCError) -> Bool? {
        guard let value = object[key] else { return nil }
        guard case .bool(let flag) = value else { throw .invalidParams(path + key, "expected_boolean") }
        return flag
    }

    /// A decimal string (`^(0|[1-9][0-9]{0,17})(\.[0-9]{1,18})?$`); JSON numbers are refused so no
    /// client loses precision through a float.
    public func decimal(_ key: String) throws(RPCError) -> FixedDecimal? {
        guard let value = object[key] else { return nil }
        guard case .string(let text) = value else { throw .invalidParams(path + key, "expected_decimal_string") }
        guard let decimal = FixedDecimal(parsing: text) else { throw .invalidParams(path + key, "invalid_decimal") }
        return decimal
    }

    public func requiredDecimal(_ key: String) throws(RPCError) -> FixedDecimal {
        guard let decimal = try decimal(key) else { throw .invalidParams(path + key, "required") }
        return decimal
    }

    public func stringArray(_ key: String, maxCount: Int, maxLength: Int = 128) throws(RPCError) -> [String]? {
        guard let value = object[key] else { return nil }
        guard case .array(let items) = value else { throw .invalidParams(path + key, "expected_array") }
        guard items.count <= maxCount else { throw .invalidParams(path + key, "too_many_items") }
        var result: [String] = []
        result.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            guard case .string(let text) = item, text.utf8.count <= maxLength else {
                throw .invalidParams(path + "\(key)[\(index)]", "expected_string")
            }
            result.append(text)
        }
        return result
    }

    /// A member that must be one of the raw values of `E`.
    public func enumValue<E: RawRepresentable>(_ key: String, as type: E.Type) throws(RPCError) -> E?
    where E.RawValue == String {
        guard let text = try string(key, maxLength: 64) else { return nil }
        guard let value = E(rawValue: text) else { throw .invalidParams(path + key, "unsupported_value") }
        return value
    }

    public func object(_ key: String) throws(RPCError) -> JSONObject? {
        guard let value = object[key] else { return nil }
        guard case .object(let nested) = value else { throw .invalidParams(path + key, "expected_object") }
        return nested
    }
}
