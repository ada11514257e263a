import BulwarkCore
import NIOCore
import Synchronization

/// Counts requests handed to a connection's processor and not yet answered.
final class InFlightCounter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() -> Int { value.add(1, ordering: .relaxed).newValue }
    func decrement() { value.subtract(1, ordering: .relaxed) }
}

/// What the event loop hands to a connection's actor, in arrival order.
enum InboundMessage: Sendable {
    /// A text frame, already parsed and decoded.
    case request(RPCRequest)
    /// A binary frame: a sealed request, opened (and then parsed) by the actor, which holds the keys.
    case sealed([UInt8])
}

/// The event-loop side of a connection: parses each message strictly, answers malformed ones at
/// once, bounds the requests in flight, and queues the rest, in order, for the connection actor.
///
/// Parsing here keeps garbage off the actor and lets an overloaded connection be told
/// `rate_limited` with the request's own id instead of being buffered without bound.
final class RequestIntake: WebSocketMessageSink {
    private let parser: StrictJSONParser
    private let continuation: AsyncStream<InboundMessage>.Continuation
    private let inFlight: InFlightCounter
    private let maxInFlight: Int
    var outbound: ConnectionOutbound?

    init(
        parser: StrictJSONParser, continuation: AsyncStream<InboundMessage>.Continuation, inFlight: InFlightCounter,
        maxInFlight: Int
    ) {
        self.parser = parser
        self.continuation = continuation
        self.inFlight = inFlight
        self.maxInFlight = maxInFlight
    }

    func received(text: [UInt8]) {
        let request: RPCRequest
        do {
            let document = try parser.parse(text)
            request = try RPCRequestDecoder.decode(document)
        } catch let error as JSONParseError {
            reply(RPCResponse.error(id: nil, RPCError(.parseError, reason: error.reason.wireName)))
            return
        } catch let failure as RPCRequestDecoder.Failure {
            reply(RPCResponse.error(id: failure.id, failure.error))
            return
        } catch {
            reply(RPCResponse.error(id: nil, RPCError(.parseError)))
            return
        }
        guard inFlight.increment() <= maxInFlight else {
            inFlight.decrement()
            reply(RPCResponse.error(id: request.id, RPCError(.rateLimited, retryAfterMs: 10, bucket: "in_flight")))
            return
        }
        continuation.yield(.request(request))
    }

    func received(binary: ByteBuffer) {
        // The request id is inside the sealed payload, so an overload answer cannot name it.
        guard inFlight.increment() <= maxInFlight else {
            inFlight.decrement()
            reply(RPCResponse.error(id: nil, RPCError(.rateLimited, retryAfterMs: 10, bucket: "in_flight")))
            return
        }
        continuation.yield(.sealed(Array(binary.readableBytesView)))
    }

    func connectionClosed() {
        continuation.finish()
    }

    private func reply(_ bytes: [UInt8]) { outbound?.send(bytes) }
}

extension JSONParseError.Reason {
    /// The `data.reason` of a `parse_error`: which structural rule the message broke.
    var wireName: String {
        switch self {
        case .duplicateKey: "duplicate_key"
        case .depthExceeded: "depth_exceeded"
        case .tooManyMembers: "too_many_members"
        case .tooManyElements: "too_many_elements"
        case .stringTooLong: "string_too_long"
        case .numberTooLong: "number_too_long"
        case .inputTooLarge: "input_too_large"
        default: "invalid_json"
        }
    }
}
