import BulwarkCore
import Crypto
import Foundation

/// How a sealed frame protects its payload (PROTOCOL.md §5). The raw value is the frame's byte 0.
public enum SealedFrameMode: UInt8, Sendable, CaseIterable {
    /// HMAC-SHA256 tag over `mode ‖ seq ‖ payload`; the payload travels in clear (integrity only).
    case mac = 0x01
    /// ChaCha20-Poly1305 with nonce `0x00000000 ‖ seq`, additional data `mode ‖ seq`.
    case aead = 0x02

    /// Whether this mode satisfies a key's sealed-frame policy (`aead` satisfies `mac` too).
    public func satisfies(_ policy: SealedFramePolicy) -> Bool {
        switch policy {
        case .none: true
        case .mac: true
        case .aead: self == .aead
        }
    }
}

public enum SealedFrameError: Error, Equatable, Sendable {
    /// Shorter than a header and tag, or an unknown mode byte.
    case malformed
    /// The sequence number is not the next one expected (replayed, reordered or a gap).
    case sequenceViolation(expected: UInt64, got: UInt64)
    /// The tag does not verify: forged, corrupted, or sealed with another key.
    case macInvalid
    /// A sealed frame arrived on a connection without session keys.
    case noSessionKeys

    public var code: ErrorCode {
        switch self {
        case .sequenceViolation: .sequenceViolation
        case .macInvalid, .malformed, .noSessionKeys: .macInvalid
        }
    }
}

/// One direction-pair of sealed-frame state: keys, and the next sequence number in each direction.
///
/// Sequences start at 1 and grow by exactly 1 per frame; a frame must carry the next number or it
/// is refused, so a replayed, dropped, reordered or truncated stream is detected at its first wrong
/// frame. The tag is checked before the sequence is accepted, so a forged frame cannot advance it.
public struct SealedChannel: Sendable {
    private let receiveKey: SymmetricKey
    private let sendKey: SymmetricKey
    public private(set) var nextReceiveSeq: UInt64 = 1
    public private(set) var nextSendSeq: UInt64 = 1

    public static let headerLength = 9
    public static let macLength = 32
    public static let aeadTagLength = 16

    /// The server's view: it receives with `k_c2s` and sends with `k_s2c`.
    public init(serverSideOf keys: SessionKeys) {
        receiveKey = keys.clientToServer
        sendKey = keys.serverToClient
    }

    /// The client's view (tests and the client libraries).
    public init(clientSideOf keys: SessionKeys) {
        receiveKey = keys.serverToClient
        sendKey = keys.clientToServer
    }

    /// Verifies and opens an incoming frame; on success the receive sequence advances.
    public mutating func open(_ frame: [UInt8]) throws(SealedFrameError) -> (mode: SealedFrameMode, payload: [UInt8]) {
        guard frame.count >= Self.headerLength, let mode = SealedFrameMode(rawValue: frame[0]) else { throw .malformed }
        let header = Array(frame[0..<Self.headerLength])
        let seq = header[1..<9].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let body = frame[Self.headerLength...]
        let payload: [UInt8]
        switch mode {
        case .mac:
            guard body.count >= Self.macLength else { throw .malformed }
            let tag = body.prefix(Self.macLength)
            payload = Array(body.dropFirst(Self.macLength))
            guard HMAC<SHA256>.isValidAuthenticationCode(tag, authenticating: header + payload, using: receiveKey) else {
                throw .macInvalid
            }
        case .aead:
            guard body.count >= Self.aeadTagLength,
                let nonce = try? ChaChaPoly.Nonce(data: Self.nonce(seq)),
                let box = try? ChaChaPoly.SealedBox(
                    nonce: nonce, ciphertext: body.dropLast(Self.aeadTagLength), tag: body.suffix(Self.aeadTagLength)),
                let opened = try? ChaChaPoly.open(box, using: receiveKey, authenticating: header)
            else { throw .macInvalid }
            payload = Array(opened)
        }
        // Authentic, but is it the next one? (Checked after the tag, so forgeries cannot probe it.)
        guard seq == nextReceiveSeq else { throw .sequenceViolation(expected: nextReceiveSeq, got: seq) }
        nextReceiveSeq += 1
        return (mode, payload)
    }

    /// Seals an outgoing payload with the next send sequence number.
    public mutating func seal(_ payload: [UInt8], mode: SealedFrameMode) -> [UInt8] {
        let header = Self.header(mode: mode, seq: nextSendSeq)
        let nonceBytes = Self.nonce(nextSendSeq)
        nextSendSeq += 1
        switch mode {
        case .mac:
            let tag = HMAC<SHA256>.authenticationCode(for: header + payload, using: sendKey)
            return header + Array(tag) + payload
        case .aead:
            // A 12-byte nonce and a 256-bit key are always valid: sealing cannot fail.
            let box = try! ChaChaPoly.seal(payload, using: sendKey, nonce: try! ChaChaPoly.Nonce(data: nonceBytes), authenticating: header)
            return header + Array(box.ciphertext) + Array(box.tag)
        }
    }

    static func header(mode: SealedFrameMode, seq: UInt64) -> [UInt8] {
        [mode.rawValue] + (0..<8).map { UInt8(truncatingIfNeeded: seq >> (56 - 8 * $0)) }
    }

    /// `0x00000000 ‖ seq` (big-endian): unique per key because seq never repeats in a direction.
    static func nonce(_ seq: UInt64) -> [UInt8] {
        [0, 0, 0, 0] + (0..<8).map { UInt8(truncatingIfNeeded: seq >> (56 - 8 * $0)) }
    }
}
