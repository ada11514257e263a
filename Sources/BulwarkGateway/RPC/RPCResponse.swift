import BulwarkCore

/// Encodes JSON-RPC responses (PROTOCOL.md §2) straight into bytes.
enum RPCResponse {
    static func success(id: RPCID, usIn: Int64, usOut: Int64, usage: RateUsage? = nil, writeResult: (inout JSONWriter) -> Void) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("jsonrpc")
        writer.string("2.0")
        writer.key("id")
        write(id, to: &writer)
        writer.key("result")
        writeResult(&writer)
        if let usage {
            writer.key("usage")
            usage.write(to: &writer)
        }
        writer.key("us_in")
        writer.int(usIn)
        writer.key("us_out")
        writer.int(usOut)
        writer.endObject()
        return writer.bytes
    }

    static func error(id: RPCID?, _ error: RPCError) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("jsonrpc")
        writer.string("2.0")
        writer.key("id")
        if let id { write(id, to: &writer) } else { writer.null() }
        writer.key("error")
        writer.beginObject()
        writer.key("code")
        writer.int(Int64(error.code.rawValue))
        writer.key("message")
        writer.string(error.code.name)
        let data: [(String, RPCErrorDataValue)] = [
            ("field", error.field.map(RPCErrorDataValue.text)), ("reason", error.reason.map(RPCErrorDataValue.text)),
            ("retry_after_ms", error.retryAfterMs.map(RPCErrorDataValue.number)),
            ("skew_ms", error.skewMs.map(RPCErrorDataValue.number)), ("until_ms", error.untilMs.map(RPCErrorDataValue.number)),
            ("bucket", error.bucket.map(RPCErrorDataValue.text)), ("trace_id", error.traceID.map(RPCErrorDataValue.text)),
        ].compactMap { key, value in value.map { (key, $0) } }
        if !data.isEmpty {
            writer.key("data")
            writer.beginObject()
            for (key, value) in data {
                writer.key(key)
                switch value {
                case .text(let text): writer.string(text)
                case .number(let number): writer.int(number)
                }
            }
            writer.endObject()
        }
        writer.endObject()
        writer.endObject()
        return writer.bytes
    }

    private enum RPCErrorDataValue {
        case text(String)
        case number(Int64)
    }

    private static func write(_ id: RPCID, to writer: inout JSONWriter) {
        switch id {
        case .int(let value): writer.int(value)
        case .string(let value): writer.string(value)
        }
    }
}
