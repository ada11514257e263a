import BulwarkAuth
import BulwarkCore
import Crypto
import Foundation
import Testing

@Suite struct SealedChannelTests {
    let keys = SessionKeys(clientToServer: SymmetricKey(size: .bits256), serverToClient: SymmetricKey(size: .bits256))

    func pair() -> (client: SealedChannel, server: SealedChannel) {
        (SealedChannel(clientSideOf: keys), SealedChannel(serverSideOf: keys))
    }

    @Test(arguments: SealedFrameMode.allCases)
    func framesRoundTripInOrderInBothDirections(mode: SealedFrameMode) throws {
        var (client, server) = pair()
        for index in 1...3 {
            let frame = client.seal(Array("request \(index)".utf8), mode: mode)
            #expect(frame[0] == mode.rawValue && frame[1..<9] == [0, 0, 0, 0, 0, 0, 0, UInt8(index)])
            let opened = try server.open(frame)
            #expect(opened.mode == mode && opened.payload == Array("request \(index)".utf8))
            let answer = server.seal(Array("answer \(index)".utf8), mode: mode)
            #expect(try client.open(answer).payload == Array("answer \(index)".utf8))
        }
        #expect(server.nextReceiveSeq == 4 && server.nextSendSeq == 4)
    }

    @Test func macModeCarriesThePayloadInClearAndAEADDoesNot() {
        var (client, _) = pair()
        let secret = Array("the order".utf8)
        let mac = client.seal(secret, mode: .mac)
        let aead = client.seal(secret, mode: .aead)
        #expect(Array(mac.suffix(secret.count)) == secret && mac.count == 9 + 32 + secret.count)
        #expect(aead.count == 9 + secret.count + 16 && !aead.windowsContain(secret))
    }

    @Test func replayReorderAndGapAreSequenceViolations() throws {
        var (client, server) = pair()
        let first = client.seal([1], mode: .aead)
        let second = client.seal([2], mode: .aead)
        let third = client.seal([3], mode: .aead)
        _ = try server.open(first)
        #expect(throws: SealedFrameError.sequenceViolation(expected: 2, got: 1)) { try server.open(first) }
        #expect(throws: SealedFrameError.sequenceViolation(expected: 2, got: 3)) { try server.open(third) }
        // A refused frame does not move the sequence: the right next frame still opens.
        #expect(try server.open(second).payload == [2])
    }

    @Test(arguments: SealedFrameMode.allCases)
    func everyFlippedBitIsRefusedAsForged(mode: SealedFrameMode) {
        var (client, _) = pair()
        let frame = client.seal(Array("{\"id\":1}".utf8), mode: mode)
        for index in frame.indices {
            for bit in 0..<8 {
                var server = SealedChannel(serverSideOf: keys)
                var tampered = frame
                tampered[index] ^= UInt8(1 << bit)
                #expect(throws: SealedFrameError.self) { try server.open(tampered) }
                #expect(server.nextReceiveSeq == 1)
            }
        }
    }

    @Test func truncatedFramesAndTheOtherDirectionsKeyAreRefused() {
        var (client, server) = pair()
        let frame = client.seal(Array("hello".utf8), mode: .aead)
        for length in [0, 1, 8, 9, 9 + 15, frame.count - 1] {
            #expect(throws: SealedFrameError.self) { try server.open(Array(frame.prefix(length))) }
        }
        // A frame sealed with k_s2c (a reflected server frame) does not open as client-to-server.
        var reflecting = SealedChannel(serverSideOf: keys)
        let reflected = reflecting.seal(Array("hello".utf8), mode: .mac)
        #expect(throws: SealedFrameError.macInvalid) { try server.open(reflected) }
        // Neither does a frame of another session.
        var stranger = SealedChannel(
            clientSideOf: SessionKeys(clientToServer: SymmetricKey(size: .bits256), serverToClient: SymmetricKey(size: .bits256)))
        #expect(throws: SealedFrameError.macInvalid) { try server.open(stranger.seal([1], mode: .aead)) }
        #expect(throws: SealedFrameError.malformed) { try server.open([0x03] + Array(repeating: 0, count: 60)) }
    }

    @Test func aeadSatisfiesEveryPolicyAndMacOnlyMacOrNone() {
        #expect(SealedFrameMode.aead.satisfies(.aead) && SealedFrameMode.aead.satisfies(.mac))
        #expect(SealedFrameMode.mac.satisfies(.mac) && !SealedFrameMode.mac.satisfies(.aead))
    }
}

@Suite struct SessionKeyExchangeTests {
    let identity = Curve25519.Signing.PrivateKey()
    let challenge = Base64URL.encode(SecureRandom.bytes(count: 32))

    @Test(arguments: [false, true])
    func bothSidesDeriveTheSameKeysAndTheTranscriptIsSigned(hybrid: Bool) throws {
        let client = Curve25519.KeyAgreement.PrivateKey()
        let mlkem = hybrid ? try MLKEM768.PrivateKey() : nil
        let offer = KeyExchangeOffer(x25519: Array(client.publicKey.rawRepresentation), mlkem768: mlkem.map { Array($0.publicKey.rawRepresentation) })
        #expect(SessionKeyExchange.isUsable(offer))
        let answer = try SessionKeyExchange.answer(offer, challenge: challenge, sessionID: "s_x", identity: identity)
        #expect((answer.mlkem768Ciphertext != nil) == hybrid)
        let transcript = KeyExchangeAnswer.transcript(
            challenge: challenge, offerHash: offer.hash, serverX25519: answer.x25519, ciphertext: answer.mlkem768Ciphertext)
        #expect(identity.publicKey.isValidSignature(answer.signature, for: transcript))
        // The client's side, from the answer alone.
        var ikm = try client.sharedSecretFromKeyAgreement(with: Curve25519.KeyAgreement.PublicKey(rawRepresentation: answer.x25519))
            .withUnsafeBytes { Array($0) }
        if let mlkem, let ciphertext = answer.mlkem768Ciphertext { ikm += try mlkem.decapsulate(ciphertext).withUnsafeBytes { Array($0) } }
        let keys = SessionKeys.derive(inputKeyMaterial: ikm, challenge: Base64URL.decode(challenge)!, sessionID: "s_x")
        var clientSide = SealedChannel(clientSideOf: keys)
        var serverSide = SealedChannel(serverSideOf: answer.keys)
        #expect(try serverSide.open(clientSide.seal([42], mode: .aead)).payload == [42])
        // Another session id (or challenge) gives other keys.
        let other = SessionKeys.derive(inputKeyMaterial: ikm, challenge: Base64URL.decode(challenge)!, sessionID: "s_y")
        #expect(other.clientToServer != keys.clientToServer)
    }

    @Test func lowOrderAndMalformedSharesAreNotUsable() {
        #expect(!SessionKeyExchange.isUsable(KeyExchangeOffer(x25519: Array(repeating: 0, count: 32), mlkem768: nil)))
        var one = Array(repeating: UInt8(0), count: 32)
        one[0] = 1
        #expect(!SessionKeyExchange.isUsable(KeyExchangeOffer(x25519: one, mlkem768: nil)))
        let fine = Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation)
        #expect(!SessionKeyExchange.isUsable(KeyExchangeOffer(x25519: fine, mlkem768: Array(repeating: 0xFF, count: 1184))))
    }

    @Test func publishedX25519VectorIsReproducedExactly() throws {
        let published = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/vectors/session-keys.json")
        let lines = try String(contentsOf: published, encoding: .utf8).split(separator: "\n")
        let regenerated = try SessionKeyTestVectors.document().split(separator: "\n")
        // Line 1 is the X25519-only vector (deterministic); the hybrid one has a random ML-KEM ciphertext.
        #expect(lines.count == 4 && regenerated.count == 4)
        #expect(lines[1] == regenerated[1], "run `bulwark dev session-key-vectors > docs/vectors/session-keys.json`")
        let keys = try SessionKeyTestVectors.x25519OnlyKeys()
        #expect(lines[1].contains(keys.clientToServer.withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }))
    }
}

extension Array where Element == UInt8 {
    func windowsContain(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { Array(self[$0..<($0 + needle.count)]) == needle }
    }
}
