/// The offset between the gateway's clock and ours, from one `public/time` round trip: the server
/// read its clock somewhere between our send and our receive, so the midpoint is the best guess and
/// half the round trip the uncertainty. Login timestamps are corrected by it, because a login more
/// than `recv_window_ms` (5 s) off is refused with `timestamp_out_of_window`.
public struct ClockSkew: Sendable, Equatable {
    /// `server - local`, milliseconds.
    public let offsetMs: Int64
    /// Half the round trip: the offset is right to within this.
    public let uncertaintyMs: Int64

    public init(sentMs: Int64, serverMs: Int64, receivedMs: Int64) {
        let midpoint = sentMs + (receivedMs - sentMs) / 2
        offsetMs = serverMs - midpoint
        uncertaintyMs = max(receivedMs - sentMs, 0) / 2
    }

    public init(offsetMs: Int64) {
        self.offsetMs = offsetMs
        uncertaintyMs = 0
    }

    /// Whether the clocks differ by more than `thresholdMs` for certain (worth a warning: the
    /// client corrects its logins, but the machine's clock is wrong).
    public func exceeds(_ thresholdMs: Int64) -> Bool { abs(offsetMs) - uncertaintyMs > thresholdMs }
}
