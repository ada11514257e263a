import BulwarkVenue
import GRPCCore
import GRPCNIOTransportHTTP2

/// Serves a `BuiltinVenue` over gRPC (HTTP/2, grpc-swift-2 with the NIO transport): the process
/// behind `bulwark venue`.
///
/// The link carries every account's orders and fills: without TLS (mutual, to keep strangers
/// out) it must stay on loopback or a private network (docs/operations.md, "Running the venue
/// separately").
public struct VenueGRPCServer: Sendable {
    public let venue: BuiltinVenue
    public let events: VenueEventBroadcaster
    public let host: String
    public let port: Int
    public let tls: VenueServerTLS?

    public init(venue: BuiltinVenue, events: VenueEventBroadcaster, host: String, port: Int, tls: VenueServerTLS? = nil) {
        self.venue = venue
        self.events = events
        self.host = host
        self.port = port
        self.tls = tls
    }

    /// Listens, calls `onListening` with the bound port, and serves until the task is cancelled.
    public func run(onListening: @escaping @Sendable (Int) async throws -> Void) async throws {
        let address: GRPCNIOTransportCore.SocketAddress = host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
        let transport = HTTP2ServerTransport.Posix(address: address, transportSecurity: tls?.transportSecurity ?? .plaintext)
        let server = GRPCServer(transport: transport, services: [VenueRPCService(venue: venue, events: events)])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            let listening = try await transport.listeningAddress
            guard let bound = listening.ipv4?.port ?? listening.ipv6?.port else {
                throw GRPCCore.RPCError(code: .internalError, message: "the venue server bound no IP address")
            }
            // Serves until cancelled: event streams never end on their own, so a graceful drain
            // would wait forever; gateways reconnect and resume anyway.
            try await onListening(bound)
        }
    }
}
