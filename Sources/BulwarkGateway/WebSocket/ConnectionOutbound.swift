import BulwarkCore
import NIOCore

/// The thread-safe way for code off the event loop to send on, or close, one connection. Every call
/// hops to the connection's event loop, where the handler owns the close state.
struct ConnectionOutbound: Sendable {
    let channel: any Channel
    private let handler: NIOLoopBound<WebSocketConnectionHandler>
    private let queue: OutboundQueueHandler.LoopBound

    init(channel: any Channel, handler: WebSocketConnectionHandler, queue: OutboundQueueHandler) {
        self.channel = channel
        self.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
        self.queue = OutboundQueueHandler.LoopBound(queue, eventLoop: channel.eventLoop)
    }

    func send(_ bytes: [UInt8]) {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.sendText(bytes) }
    }

    /// Sends a binary message (a sealed frame).
    func sendBinary(_ bytes: [UInt8]) {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.sendBinary(bytes) }
    }

    func close(_ code: CloseCode, reason: String = "") {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.close(code: code, reason: reason) }
    }

    /// This connection as a fan-out subscriber.
    func subscriber(connectionID: String) -> FanoutHub.Subscriber {
        FanoutHub.Subscriber(connectionID: connectionID, eventLoop: channel.eventLoop, queue: queue)
    }
}
