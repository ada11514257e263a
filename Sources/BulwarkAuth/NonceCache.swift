import BulwarkCore
import Synchronization

/// Remembers login nonces per key for the timestamp window, so a signed login cannot be replayed
/// inside the window even where the challenge binding would not catch it.
///
/// Memory is bounded by `capacity`: when full after purging expired entries, new logins are refused
/// (fail closed) rather than forgetting nonces that are still inside their window.
public final class NonceCache: Sendable {
    public enum Outcome: Sendable, Equatable {
        case fresh
        case replayed
        case full
    }

    private struct State {
        var expiries: [String: Int64] = [:]
        var lastPurgeMs: Int64 = 0
    }

    private let state = Mutex(State())
    public let capacity: Int

    public init(capacity: Int = 1_000_000) { self.capacity = capacity }

    /// Records `nonce` for `keyID` until `expiresAtMs`; reports whether it was already there.
    public func record(keyID: String, nonce: String, nowMs: Int64, expiresAtMs: Int64) -> Outcome {
        let entry = keyID + "\u{0}" + nonce
        return state.withLock { state in
            if let expiry = state.expiries[entry], expiry > nowMs { return .replayed }
            if state.expiries.count >= capacity || nowMs - state.lastPurgeMs > 10_000 {
                state.expiries = state.expiries.filter { $0.value > nowMs }
                state.lastPurgeMs = nowMs
                if state.expiries.count >= capacity { return .full }
            }
            state.expiries[entry] = expiresAtMs
            return .fresh
        }
    }

    public var count: Int { state.withLock { $0.expiries.count } }
}
