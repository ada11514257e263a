import NIOCore
import NIOWebSocket

/// The sink behind `GET /ws/echo` (`ws.conformance_echo`): every message goes back unchanged, as
/// one frame of the same kind. It exists so RFC 6455 conformance suites (the Autobahn catalogue)
/// can exercise the exact frame pipeline `/ws/v1` uses; it knows nothing of JSON or sessions.
final class ConformanceEcho: WebSocketMessageSink {
    weak var handler: WebSocketConnectionHandler?

    func received(text: [UInt8]) { handler?.sendText(text) }
    func received(binary: ByteBuffer) { handler?.send(.binary, binary) }
    func connectionClosed() { handler = nil }
}

/// Adds the data plane's handlers to an upgraded channel: the outbound queue just below NIO's frame
/// encoder (so it sees every byte sent), the frame handler at the end.
enum DataPlanePipeline {
    static func install(
        on channel: any Channel, frameLimits: FrameLimits, limits: ConnectionLimits, queueLimitBytes: Int,
        metrics: GatewayMetrics, sink: any WebSocketMessageSink
    ) throws -> (WebSocketConnectionHandler, OutboundQueueHandler) {
        let sync = channel.pipeline.syncOperations
        let queue = OutboundQueueHandler(limitBytes: queueLimitBytes, metrics: metrics)
        try sync.addHandler(queue, position: .before(try sync.handler(type: WebSocketFrameEncoder.self)))
        let handler = WebSocketConnectionHandler(
            limits: frameLimits, keepalive: KeepalivePolicy(limits), metrics: metrics, sink: sink)
        try sync.addHandler(handler)
        queue.onOverflow = { [weak handler] in handler?.close(code: .slowConsumer, reason: "slow consumer") }
        return (handler, queue)
    }
}
