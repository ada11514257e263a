import BulwarkCore

/// The private methods served now, and the scopes that allow each (PROTOCOL.md §6).
enum PrivateMethod: String, CaseIterable {
    case sessionStatus = "private/session.status"
    case sessionList = "private/session.list"
    case sessionRevoke = "private/session.revoke"
    case logout = "private/logout"
    case orderPlace = "private/order.place"
    case orderCancel = "private/order.cancel"
    case orderAmend = "private/order.amend"
    case orderCancelAll = "private/order.cancel_all"
    case orderStatus = "private/order.status"
    case ordersOpen = "private/orders.open"
    case accountBalances = "private/account.balances"
    case accountPositions = "private/account.positions"
    case cancelAllAfter = "private/cancel_all_after"
    case mfaVerify = "private/mfa.verify"

    /// Any one of these scopes allows the method.
    var allowedScopes: Set<Scope> {
        switch self {
        case .sessionStatus, .sessionList, .sessionRevoke, .logout, .mfaVerify: Set(Scope.allCases)
        case .orderPlace, .orderAmend: [.trade]
        // A cancel-only key (kill-switch tooling) may cancel but never place.
        case .orderCancel, .orderCancelAll, .cancelAllAfter: [.trade, .cancel]
        case .orderStatus, .ordersOpen: [.read, .trade, .cancel]
        case .accountBalances, .accountPositions: [.read, .account]
        }
    }

    func isAllowed(by scopes: Set<Scope>) -> Bool { !allowedScopes.isDisjoint(with: scopes) }
}
