import NIOCore

/// The binary PROXY protocol, version 2 (HAProxy's proxy-protocol.txt §2.2): the header an L4 load
/// balancer sends before the client's first byte to say who the client is. Pure parsing; only ever
/// applied to connections from `net.trusted_proxies` (anyone else could claim any address).
enum ProxyProtocolV2 {
    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// Addresses plus TLVs; real proxies send far less. Anything longer is refused, not buffered.
    static let maxPayloadBytes = 2048

    struct Header: Equatable {
        /// Bytes the header occupies at the start of the stream.
        let length: Int
        /// The client's address for PROXY over TCP; nil for LOCAL (the proxy's own health checks)
        /// and for families without an IP (UNSPEC, UNIX).
        let sourceIP: String?
    }

    enum ParseResult: Equatable {
        case needMoreBytes
        case invalid(String)
        case header(Header)
    }

    static func parse(_ buffer: ByteBuffer) -> ParseResult {
        let bytes = buffer.readableBytesView
        let seen = min(bytes.count, signature.count)
        guard bytes.prefix(seen).elementsEqual(signature.prefix(seen)) else { return .invalid("no PROXY v2 signature") }
        guard bytes.count >= 16 else { return .needMoreBytes }
        let start = bytes.startIndex
        let versionCommand = bytes[start + 12]
        let familyProtocol = bytes[start + 13]
        let payloadLength = Int(bytes[start + 14]) << 8 | Int(bytes[start + 15])
        guard versionCommand >> 4 == 2 else { return .invalid("unsupported PROXY version") }
        guard payloadLength <= maxPayloadBytes else { return .invalid("PROXY header too long") }
        guard bytes.count >= 16 + payloadLength else { return .needMoreBytes }
        let header = { (ip: String?) in ParseResult.header(Header(length: 16 + payloadLength, sourceIP: ip)) }
        switch versionCommand & 0x0F {
        case 0x0:
            return header(nil)  // LOCAL: the connection is the proxy's own
        case 0x1:
            break
        default:
            return .invalid("unknown PROXY command")
        }
        let payload = buffer.getSlice(at: buffer.readerIndex + 16, length: payloadLength)!
        switch familyProtocol {
        case 0x11:  // TCP over IPv4: source, destination, source port, destination port
            guard payloadLength >= 12 else { return .invalid("short IPv4 addresses") }
            return header(Self.format(payload.getSlice(at: payload.readerIndex, length: 4)!))
        case 0x21:  // TCP over IPv6
            guard payloadLength >= 36 else { return .invalid("short IPv6 addresses") }
            return header(Self.format(payload.getSlice(at: payload.readerIndex, length: 16)!))
        case 0x00, 0x31:
            return header(nil)  // UNSPEC, UNIX: no IP to report; the socket's peer stands
        default:
            return .invalid("unsupported PROXY address family")
        }
    }

    private static func format(_ packed: ByteBuffer) -> String? {
        (try? SocketAddress(packedIPAddress: packed, port: 0))?.ipAddress
    }
}

/// The first handler of a connection from a trusted proxy when `net.proxy_protocol` is on: it
/// requires a PROXY v2 header, remembers the client address it names, and passes every byte after
/// it on unchanged (to TLS). A connection without a valid header is closed.
final class ProxyProtocolHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        case awaitingHeader(ByteBuffer?)
        case passThrough
        case refused
    }

    private var state = State.awaitingHeader(nil)
    /// The client address from the header (nil: LOCAL, UNSPEC or UNIX; the socket peer stands).
    private(set) var sourceIP: String?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let pending: ByteBuffer?
        switch state {
        case .awaitingHeader(let buffered): pending = buffered
        case .passThrough: return context.fireChannelRead(data)
        case .refused: return
        }
        var buffer = unwrapInboundIn(data)
        if var pending {
            pending.writeBuffer(&buffer)
            buffer = pending
        }
        switch ProxyProtocolV2.parse(buffer) {
        case .needMoreBytes:
            state = .awaitingHeader(buffer)
        case .invalid:
            state = .refused
            context.close(promise: nil)
        case .header(let header):
            sourceIP = header.sourceIP
            state = .passThrough
            buffer.moveReaderIndex(forwardBy: header.length)
            if buffer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(buffer)) }
        }
    }
}
