// libFuzzer target: the sealed-frame parser and verifier (PROTOCOL.md §5), both modes.
//
// Invariants:
// - arbitrary bytes opened on a fresh channel are refused (a forgery would need the key), and a
//   refused frame never advances the receive sequence;
// - a payload sealed by the client opens to the same payload on the server;
// - that frame with any one byte changed, or replayed, is refused.
import Crypto

private let keys = SessionKeys(
    clientToServer: SymmetricKey(data: [UInt8](repeating: 0x11, count: 32)),
    serverToClient: SymmetricKey(data: [UInt8](repeating: 0x22, count: 32)))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSealedFrame(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var server = SealedChannel(serverSideOf: keys)
    if (try? server.open(bytes)) != nil { fatalError("forged frame accepted") }
    guard server.nextReceiveSeq == 1 else { fatalError("a refused frame advanced the sequence") }
    guard let first = bytes.first else { return 0 }
    let mode: SealedFrameMode = first & 1 == 0 ? .mac : .aead
    let payload = Array(bytes.dropFirst())
    var client = SealedChannel(clientSideOf: keys)
    let frame = client.seal(payload, mode: mode)
    guard let opened = try? server.open(frame), opened.mode == mode, opened.payload == payload else {
        fatalError("an honest frame did not open")
    }
    if (try? server.open(frame)) != nil { fatalError("replayed frame accepted") }
    let position = Int(first) % frame.count
    var tampered = client.seal(payload, mode: mode)
    tampered[position] ^= 0x01 | (first >> 1)
    if (try? server.open(tampered)) != nil { fatalError("tampered frame accepted at byte \(position)") }
    return 0
}
