@testable import BulwarkGateway
import BulwarkCore
import NIOCore
import NIOWebSocket
import Testing

@Suite struct UTF8StreamValidatorTests {
    @Test func agreesWithTheStandardLibraryOnEdgeSequences() {
        let samples: [[UInt8]] = [
            [], Array("κόσμε".utf8), [0x7F], [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xEF, 0xBF, 0xBF],
            [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF], [0xC1, 0xBF],
            [0xE0, 0x9F, 0xBF], [0xED, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF], [0x80], [0xBF],
            [0xFE], [0xFF], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xE2, 0x82], [0xEF, 0xBF, 0xBE],
        ]
        for sample in samples {
            #expect(UTF8StreamValidator.isValid(sample) == (String(validating: sample, as: UTF8.self) != nil), "\(sample)")
        }
    }

    @Test func agreesWithTheStandardLibraryOnRandomBytes() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...8, using: &generator)).map { _ in
                // Bias towards the interesting region (lead and continuation bytes).
                Bool.random(using: &generator) ? UInt8.random(in: 0x80...0xF5, using: &generator) : UInt8.random(in: 0...0xFF, using: &generator)
            }
            #expect(UTF8StreamValidator.isValid(bytes) == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
        }
    }

    @Test func failsAtTheFirstImpossibleByteAcrossFeeds() {
        var validator = UTF8StreamValidator()
        let prefixIsValid = validator.feed(Array("κόσμε".utf8) + [0xF4])
        #expect(prefixIsValid && !validator.isAtBoundary)
        let continued = validator.feed([0x90])  // U+110000 and beyond: fails here, before the message ends
        #expect(!continued)
    }
}

@Suite struct InboundFrameRulesTests {
    let limits = FrameLimits(maxFrameBytes: 100, maxMessageBytes: 200, maxFragments: 3, acceptsBinary: false)

    func frame(_ opcode: WebSocketOpcode, _ bytes: [UInt8] = [], fin: Bool = true, masked: Bool = true, rsv1: Bool = false) -> WebSocketFrame {
        var buffer = ByteBuffer(bytes: bytes)
        let key: WebSocketMaskingKey? = masked ? WebSocketMaskingKey([1, 2, 3, 4]) : nil
        if let key { buffer.webSocketMask(key) }
        return WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, maskKey: key, data: buffer)
    }

    func failure(_ verdict: InboundFrameRules.Verdict) -> CloseCode? {
        if case .fail(let code, _) = verdict { return code }
        return nil
    }

    @Test func protocolViolationsAre1002() {
        var rules = InboundFrameRules(limits: limits)
        #expect(failure(rules.accept(frame(.text, Array("x".utf8), masked: false))) == .protocolError)
        #expect(failure(rules.accept(frame(.text, Array("x".utf8), rsv1: true))) == .protocolError)
        #expect(failure(rules.accept(frame(.continuation, [1]))) == .protocolError)
        #expect(failure(rules.accept(frame(WebSocketOpcode(encodedWebSocketOpcode: 3)!, []))) == .protocolError)
        #expect(failure(rules.accept(frame(.ping, [], fin: false))) == .protocolError)
        #expect(failure(rules.accept(frame(.ping, [UInt8](repeating: 0, count: 126)))) != nil)
        _ = rules.accept(frame(.text, [0x61], fin: false))
        #expect(failure(rules.accept(frame(.text, [0x61]))) == .protocolError)
    }

    @Test func fragmentsReassembleWithPingsBetween() {
        var rules = InboundFrameRules(limits: limits)
        guard case .fragmentAccepted = rules.accept(frame(.text, Array("ab".utf8), fin: false)) else { Issue.record(); return }
        guard case .ping = rules.accept(frame(.ping, [9])) else { Issue.record(); return }
        guard case .message(.text, let message) = rules.accept(frame(.continuation, Array("cd".utf8))) else { Issue.record(); return }
        #expect(String(buffer: message) == "abcd")
        #expect(!rules.isInsideMessage)
    }

    @Test func sizeAndFragmentLimitsAre1009BeforeBuffering() {
        var rules = InboundFrameRules(limits: limits)
        #expect(failure(rules.accept(frame(.text, [UInt8](repeating: 0x61, count: 101)))) == .messageTooBig)
        rules = InboundFrameRules(limits: limits)
        _ = rules.accept(frame(.text, [UInt8](repeating: 0x61, count: 100), fin: false))
        _ = rules.accept(frame(.continuation, [UInt8](repeating: 0x61, count: 100), fin: false))
        #expect(failure(rules.accept(frame(.continuation, [0x61]))) == .messageTooBig)
        rules = InboundFrameRules(limits: limits)
        _ = rules.accept(frame(.text, [0x61], fin: false))
        _ = rules.accept(frame(.continuation, [0x61], fin: false))
        _ = rules.accept(frame(.continuation, [0x61], fin: false))
        #expect(failure(rules.accept(frame(.continuation, [0x61]))) == .messageTooBig)
    }

    @Test func invalidUTF8FailsFastWith1007() {
        var rules = InboundFrameRules(limits: limits)
        #expect(failure(rules.accept(frame(.text, [0xFF]))) == .invalidPayload)
        rules = InboundFrameRules(limits: limits)
        _ = rules.accept(frame(.text, [0xCE], fin: false))  // a valid prefix
        #expect(failure(rules.accept(frame(.continuation, [0x41], fin: false))) == .invalidPayload)
        rules = InboundFrameRules(limits: limits)
        _ = rules.accept(frame(.text, [0xCE], fin: false))
        #expect(failure(rules.accept(frame(.continuation, []))) == .invalidPayload)  // ends mid code point
    }

    @Test func binaryIs1003UnlessTheEndpointAcceptsIt() {
        var rules = InboundFrameRules(limits: limits)
        #expect(failure(rules.accept(frame(.binary, [0xFF]))) == .unsupportedData)
        var echo = InboundFrameRules(limits: .conformanceEcho)
        guard case .message(.binary, _) = echo.accept(frame(.binary, [0xFF])) else { Issue.record(); return }
    }

    @Test func peerCloseAnswers() {
        func answer(_ bytes: [UInt8]) -> UInt16? {
            if case .close(let answer, _) = InboundFrameRules.peerClose(ByteBuffer(bytes: bytes)) { return answer }
            return nil
        }
        #expect(answer([]) == 1000)
        #expect(answer([0x03]) == 1002)
        #expect(answer([0x03, 0xE8]) == 1000)
        #expect(answer([0x0F, 0xA0]) == 4000)
        for invalid: UInt16 in [0, 999, 1004, 1005, 1006, 1012, 1015, 2999, 5000, 65535] {
            #expect(answer([UInt8(invalid >> 8), UInt8(invalid & 0xFF)]) == 1002, "\(invalid)")
        }
        #expect(answer([0x03, 0xE8, 0xFF]) == 1007)
    }
}

@Suite struct SubscriberQueueTests {
    func entry(_ size: Int, _ delivery: DeliveryClass) -> SubscriberQueue.Entry {
        .init(bytes: ByteBuffer(repeating: 0x2A, count: size), delivery: delivery, promise: nil, isPreframed: true)
    }

    func isWrite(_ outcome: SubscriberQueue.Outcome) -> Bool { if case .write = outcome { true } else { false } }
    func isQueued(_ outcome: SubscriberQueue.Outcome) -> Bool { if case .queued = outcome { true } else { false } }
    func isDropped(_ outcome: SubscriberQueue.Outcome) -> Bool { if case .dropped = outcome { true } else { false } }

    @Test func writesThroughWhileWritableAndQueuesInOrderOtherwise() {
        var queue = SubscriberQueue(limit: 100)
        #expect(isWrite(queue.offer(entry(10, .reliable), socketWritable: true)))
        #expect(isQueued(queue.offer(entry(10, .reliable), socketWritable: false)))
        // Something waits: even a writable socket must not overtake it.
        #expect(isQueued(queue.offer(entry(20, .droppable(topic: "trades.X")), socketWritable: true)))
        #expect(queue.queuedBytes == 30)
        #expect(queue.next()?.bytes.readableBytes == 10)
        #expect(queue.next()?.bytes.readableBytes == 20)
        #expect(queue.next() == nil)
    }

    @Test func publicDataIsDroppedWhenFull() {
        var queue = SubscriberQueue(limit: 100)
        #expect(isQueued(queue.offer(entry(90, .droppable(topic: "trades.X")), socketWritable: false)))
        #expect(isDropped(queue.offer(entry(20, .droppable(topic: "trades.X")), socketWritable: false)))
        #expect(isDropped(queue.offer(entry(20, .droppable(topic: "trades.X")), socketWritable: false)))
        #expect(queue.droppedTotal == 2 && queue.episodesTotal == 1)
        #expect(queue.queuedBytes == 90)
    }

    @Test func bookDeltasAreConflatedIntoAFreshSnapshot() {
        var queue = SubscriberQueue(limit: 100)
        _ = queue.offer(entry(90, .conflated(topic: "book.X")), socketWritable: false)
        #expect(isDropped(queue.offer(entry(20, .conflated(topic: "book.X")), socketWritable: false)))
        #expect(queue.staleTopics == ["book.X"])
        // Small enough to fit, but the book is stale: later deltas are useless without a snapshot.
        #expect(isDropped(queue.offer(entry(5, .conflated(topic: "book.X")), socketWritable: false)))
        #expect(queue.topicsNeedingSnapshot().isEmpty)  // not while the consumer is still behind
        _ = queue.next()
        #expect(queue.topicsNeedingSnapshot() == ["book.X"])
        #expect(queue.topicsNeedingSnapshot().isEmpty)  // asked once
        #expect(isWrite(queue.offer(entry(50, .snapshot(topic: "book.X")), socketWritable: true)))
        #expect(queue.staleTopics.isEmpty)
        #expect(isWrite(queue.offer(entry(5, .conflated(topic: "book.X")), socketWritable: true)))
    }

    @Test func reliableDataShedsPublicDataThenOverflows() {
        var queue = SubscriberQueue(limit: 100)
        _ = queue.offer(entry(40, .reliable), socketWritable: false)
        _ = queue.offer(entry(50, .conflated(topic: "book.X")), socketWritable: false)
        #expect(isQueued(queue.offer(entry(50, .reliable), socketWritable: false)))
        #expect(queue.queuedBytes == 90 && queue.staleTopics == ["book.X"])
        guard case .overflow(let discarded) = queue.offer(entry(20, .reliable), socketWritable: false) else {
            Issue.record("expected overflow")
            return
        }
        #expect(discarded.count == 3)
        #expect(queue.isOverflowed && queue.isEmpty)
        // After an overflow only reliable writes (the 4004 close frame) still go out.
        #expect(isWrite(queue.offer(entry(4, .reliable), socketWritable: false)))
        #expect(isDropped(queue.offer(entry(4, .droppable(topic: "trades.X")), socketWritable: true)))
    }
}

@Suite struct HandshakeLimitTests {
    @Test func countsBytesAndFieldsPerRequest() {
        var scanner = HeaderBlockScanner(maxBytes: 64, maxFields: 2)
        #expect(scanner.scan(Array("GET / HTTP/1.1\r\nHost: a\r\n".utf8)) == .incomplete)
        #expect(scanner.scan(Array("\r\nGET".utf8)) == .complete(consumed: 2))
        var fields = HeaderBlockScanner(maxBytes: 1000, maxFields: 2)
        #expect(fields.scan(Array("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n".utf8)) == .tooManyFields)
        var bytes = HeaderBlockScanner(maxBytes: 20, maxFields: 10)
        #expect(bytes.scan(Array("GET / HTTP/1.1\r\nCookie: aaaaaaaaaa".utf8)) == .tooLarge)
    }
}

@Suite struct ClientAddressTests {
    let resolver = ClientAddressResolver(trustedProxies: [IPNetwork("10.0.0.0/8")!, IPNetwork("127.0.0.1")!])

    @Test func untrustedPeersCannotSpoofTheirAddress() {
        #expect(resolver.clientIP(socketPeer: "198.51.100.1", proxyProtocolSource: nil, forwardedFor: ["1.2.3.4"]) == "198.51.100.1")
    }

    @Test func trustedProxiesAreWalkedRightToLeft() {
        #expect(resolver.clientIP(socketPeer: "127.0.0.1", proxyProtocolSource: nil, forwardedFor: ["1.2.3.4"]) == "1.2.3.4")
        // The client may prepend anything; only the hop the trusted proxy appended counts.
        #expect(resolver.clientIP(socketPeer: "127.0.0.1", proxyProtocolSource: nil, forwardedFor: ["6.6.6.6, 1.2.3.4", "10.0.0.7"]) == "1.2.3.4")
        #expect(resolver.clientIP(socketPeer: "127.0.0.1", proxyProtocolSource: "203.0.113.5", forwardedFor: []) == "203.0.113.5")
        #expect(resolver.clientIP(socketPeer: "127.0.0.1", proxyProtocolSource: nil, forwardedFor: ["not-an-ip"]) == "127.0.0.1")
        #expect(resolver.clientIP(socketPeer: "127.0.0.1", proxyProtocolSource: nil, forwardedFor: []) == "127.0.0.1")
    }

    @Test func proxyProtocolV2Headers() {
        func header(command: UInt8, family: UInt8, payload: [UInt8]) -> ByteBuffer {
            ByteBuffer(bytes: ProxyProtocolV2.signature + [0x20 | command, family, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload)
        }
        let v4 = header(command: 1, family: 0x11, payload: [192, 0, 2, 44, 10, 0, 0, 1, 0x1F, 0x90, 0x01, 0xBB])
        #expect(ProxyProtocolV2.parse(v4) == .header(.init(length: 28, sourceIP: "192.0.2.44")))
        #expect(ProxyProtocolV2.parse(v4.getSlice(at: 0, length: 20)!) == .needMoreBytes)
        let v6 = header(command: 1, family: 0x21, payload: [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [5] + [UInt8](repeating: 0, count: 20))
        #expect(ProxyProtocolV2.parse(v6) == .header(.init(length: 52, sourceIP: "2001:db8::5")))
        #expect(ProxyProtocolV2.parse(header(command: 0, family: 0, payload: [])) == .header(.init(length: 16, sourceIP: nil)))
        #expect(ProxyProtocolV2.parse(ByteBuffer(string: "GET / HTTP/1.1\r\n")) == .invalid("no PROXY v2 signature"))
        #expect(ProxyProtocolV2.parse(header(command: 1, family: 0x11, payload: [1, 2, 3])) == .invalid("short IPv4 addresses"))
    }
}

@Suite struct FanoutFramingTests {
    @Test func preframedMessagesCarryTheRightLengthEncoding() {
        for (size, headerBytes) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            let frame = ServerFrame.text([UInt8](repeating: 0x61, count: size))
            #expect(frame.readableBytes == size + headerBytes)
            #expect(frame.getInteger(at: 0, as: UInt8.self) == 0x81)
        }
    }

    @Test func metricsRenderInPrometheusText() {
        let metrics = GatewayMetrics()
        metrics.connections.open.add(2, ordering: .relaxed)
        metrics.closes.record(code: 4004, by: .server)
        let text = MetricsExposition.render(metrics, subscriptions: 7)
        #expect(text.contains("bulwark_connections{state=\"open\"} 2\n"))
        #expect(text.contains("bulwark_ws_closes_total{code=\"4004\",initiator=\"server\"} 1\n"))
        #expect(text.contains("bulwark_subscriptions 7\n"))
        #expect(text.contains("# TYPE bulwark_slow_consumer_closes_total counter\n"))
    }
}
