import BulwarkCore
import BulwarkSessions

/// Decides whether a privileged action needs a fresh TOTP step-up (`mfa_required`, 10008).
///
/// Two rules, both documented in docs/security-model.md:
/// - policy: orders whose notional reaches `orderNotionalThreshold`;
/// - risk: any privileged action while the session's risk is at or above the step-up threshold.
/// A session at `aal2` (a step-up within `session.step_up_ttl_ms`) passes both. Cancels are never
/// gated: they only ever reduce exposure.
struct StepUpGate: Sendable {
    let orderNotionalThreshold: FixedDecimal?
    let riskDemandsStepUp: Bool
    let assurance: Assurance
    /// Asked only when an order is refused (a store read; the common path never pays it).
    let mfaEnrolled: @Sendable () -> Bool

    /// `orderNotional` is nil when it cannot be estimated (a market order on an empty book): only
    /// the risk rule applies then.
    func checkOrder(notional orderNotional: FixedDecimal?) throws(RPCError) {
        guard assurance != .aal2 else { return }
        if let threshold = orderNotionalThreshold, let orderNotional, !(orderNotional < threshold) {
            throw refusal("step_up_for_order_notional")
        }
        if riskDemandsStepUp { throw refusal("step_up_for_risk") }
    }

    private func refusal(_ reason: String) -> RPCError {
        // An account without a TOTP factor cannot step up: say so, so the client does not prompt.
        RPCError(.mfaRequired, reason: mfaEnrolled() ? reason : "mfa_not_enrolled")
    }
}
