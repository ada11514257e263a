import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The admin listener: its own port, TLS with **mandatory** client certificates from the admin CA
/// (validated by `ClientCertificateVerifier`, CRLs honoured), serving `/admin/v1`.
final class AdminServer: Sendable {
    private let app: GatewayApp
    private let group: MultiThreadedEventLoopGroup
    private let tls: TLSContextProvider
    private let serverChannel = NIOLockedValueBox<(any Channel)?>(nil)

    init(app: GatewayApp, group: MultiThreadedEventLoopGroup, tls: TLSContextProvider) {
        precondition(tls.source.clientAuth == .required, "the admin listener always requires client certificates")
        self.app = app
        self.group = group
        self.tls = tls
    }

    func start(host: String, port: Int) async throws -> SocketAddress {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [app, tls] channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(GatewayServer.tlsHandler(tls.snapshot, logger: app.logger))
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(AdminHTTPHandler(app: app))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        serverChannel.withLockedValue { $0 = channel }
        guard let address = channel.localAddress else { throw BootstrapError("admin listener has no local address") }
        return address
    }

    func stop() async {
        let channel = serverChannel.withLockedValue { $0 }
        try? await channel?.close()
    }
}
