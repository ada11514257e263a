import BulwarkCore
import NIOCore

/// Reads just enough of a server message to route it, without parsing the whole JSON: the gateway
/// (and the peer servers) write compact JSON with `jsonrpc` first, then `id` or `method`.
enum MessagePeek {
    private static let responsePrefix = Array(#"{"jsonrpc":"2.0","id":"#.utf8)
    private static let resultMarker = Array(#","result""#.utf8)
    private static let notificationPrefix = Array(#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":""#.utf8)

    struct Response {
        let id: Int
        let succeeded: Bool
    }

    /// The integer id of a response and whether it carries `result` (otherwise `error`).
    static func response(_ payload: ByteBuffer) -> Response? {
        payload.withUnsafeReadableBytes { bytes -> Response? in
            guard bytes.starts(with: responsePrefix) else { return nil }
            var index = responsePrefix.count
            var id = 0
            var digits = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                id = id * 10 + Int(bytes[index] - 0x30)
                index += 1
                digits += 1
            }
            guard digits > 0 else { return nil }
            let rest = bytes[index...]
            return Response(id: id, succeeded: rest.starts(with: resultMarker))
        }
    }

    /// Whether the message is a `subscription` notification on a channel starting with `channelPrefix`.
    static func isNotification(_ payload: ByteBuffer, channelPrefix: [UInt8]) -> Bool {
        payload.withUnsafeReadableBytes { bytes in
            bytes.starts(with: notificationPrefix) && bytes.dropFirst(notificationPrefix.count).starts(with: channelPrefix)
        }
    }

    /// The `hello` notification's challenge (parsed properly: it happens once per connection).
    static func challenge(inHello payload: ByteBuffer) -> String? {
        let value = try? StrictJSONParser().parse(payload.readableBytesView)
        guard let object = value?.objectValue, object["method"]?.stringValue == "hello" else { return nil }
        return object["params"]?.objectValue?["challenge"]?.stringValue
    }

    /// A readable form of an unexpected message for error reports (shortened).
    static func excerpt(_ payload: ByteBuffer) -> String {
        String(decoding: payload.readableBytesView.prefix(200), as: UTF8.self)
    }
}

/// The start of every `/ws/v1` connection: wait for `hello`, then log in when there is an identity.
struct SessionOpening {
    enum Outcome {
        /// Still opening; the message was consumed.
        case pending
        /// The session is usable from now on.
        case open
        /// Login refused or the server spoke out of turn.
        case failed(String)
    }

    private enum Step { case awaitingHello, awaitingAuth, open }
    private var step = Step.awaitingHello
    private let identity: BenchIdentity?
    private let cancelOnDisconnect: Bool
    static let authRequestID = 1

    init(identity: BenchIdentity?, cancelOnDisconnect: Bool = false) {
        self.identity = identity
        self.cancelOnDisconnect = cancelOnDisconnect
    }

    var isOpen: Bool { step == .open }

    mutating func consume(_ payload: ByteBuffer, link: LinkHandler) -> Outcome {
        switch step {
        case .open:
            return .open
        case .awaitingHello:
            guard let challenge = MessagePeek.challenge(inHello: payload) else { return .failed("expected hello: \(MessagePeek.excerpt(payload))") }
            guard let identity else {
                step = .open
                return .open
            }
            do {
                link.send(link.allocator.buffer(string: try identity.authRequest(id: Self.authRequestID, challenge: challenge, cancelOnDisconnect: cancelOnDisconnect)))
            } catch {
                return .failed("signing failed: \(error)")
            }
            step = .awaitingAuth
            return .pending
        case .awaitingAuth:
            guard let response = MessagePeek.response(payload), response.id == Self.authRequestID else { return .pending }
            guard response.succeeded else { return .failed("login refused: \(MessagePeek.excerpt(payload))") }
            step = .open
            return .open
        }
    }
}
