/// Gap detection and duplicate suppression for channel messages (PROTOCOL.md §7).
///
/// Public channels (`trades.*`, `ticker.*`) carry a per-channel `seq` growing by 1: a jump means
/// messages were dropped (a slow consumer, or a resubscribe). Private channels carry the account's
/// `private_seq`: after a resume the gateway replays what was missed, so a number at or below the
/// last one seen is a duplicate and is dropped; their per-channel `seq` is not checked (a client
/// that does not subscribe to all four private channels sees holes in it by design).
public struct SequenceTracker: Sendable {
    public enum Verdict: Equatable, Sendable {
        case inOrder
        /// `expected` was the next seq; `got` arrived.
        case gap(expected: Int64, got: Int64)
        /// A private event already seen (replay overlap): drop it.
        case duplicate
    }

    private var lastSeq: [String: Int64] = [:]
    /// The highest private event number seen: what `resume.last_private_seq` asks after.
    public private(set) var lastPrivateSeq: Int64 = 0
    public private(set) var gaps = 0

    public init(lastPrivateSeq: Int64 = 0) { self.lastPrivateSeq = lastPrivateSeq }

    public mutating func observe(channel: String, seq: Int64, privateSeq: Int64?) -> Verdict {
        if let privateSeq {
            guard privateSeq > lastPrivateSeq else { return .duplicate }
            lastPrivateSeq = privateSeq
            return .inOrder
        }
        defer { lastSeq[channel] = seq }
        if let previous = lastSeq[channel], seq != previous + 1 {
            gaps += 1
            return .gap(expected: previous + 1, got: seq)
        }
        return .inOrder
    }

    /// A fresh subscription starts a new sequence (the first message's seq is whatever it is).
    public mutating func reset(channel: String) { lastSeq[channel] = nil }

    /// A gap found elsewhere (a book delta whose `prev_seq` did not match).
    public mutating func countGap() { gaps += 1 }

    /// After a login with `private_seq` (the account's latest) when nothing is to be replayed.
    public mutating func raisePrivateSeq(to value: Int64) { lastPrivateSeq = max(lastPrivateSeq, value) }
}
