/// The delays between reconnect attempts: exponential from `initialMs`, capped at `maxMs`, each
/// multiplied by a random factor in [0.5, 1.5) so that many clients cut off together do not come
/// back together (a thundering herd would meet the gateway's handshake limits).
public struct ReconnectBackoff: Sendable {
    public let initialMs: Int64
    public let maxMs: Int64
    private var nextBaseMs: Int64

    public init(initialMs: Int64 = 100, maxMs: Int64 = 10_000) {
        self.initialMs = max(initialMs, 1)
        self.maxMs = max(maxMs, self.initialMs)
        self.nextBaseMs = self.initialMs
    }

    /// The delay before the next attempt; `unitRandom` is in [0, 1) (injected by tests).
    public mutating func nextDelayMs(unitRandom: Double = Double.random(in: 0..<1)) -> Int64 {
        let base = nextBaseMs
        nextBaseMs = min(base * 2, maxMs)
        return Int64((Double(base) * (0.5 + min(max(unitRandom, 0), 1))).rounded())
    }

    /// After a successful reconnect: the next failure starts from `initialMs` again.
    public mutating func reset() { nextBaseMs = initialMs }
}
