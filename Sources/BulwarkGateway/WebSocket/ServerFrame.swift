import NIOCore

/// Frames a server message once, header and payload in one buffer, so the fan-out hub can write
/// the very same bytes to every subscriber instead of framing per connection (RFC 6455 §5.2;
/// server frames are never masked).
enum ServerFrame {
    static func text(_ payload: [UInt8], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: payload.count + 10)
        writeHeader(opcode: 0x1, length: payload.count, into: &buffer)
        buffer.writeBytes(payload)
        return buffer
    }

    static func writeHeader(opcode: UInt8, length: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(0x80 | opcode)  // FIN, no RSV bits
        switch length {
        case 0...125:
            buffer.writeInteger(UInt8(length))
        case 126...0xFFFF:
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        default:
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
    }
}
