/// A channel a client can subscribe to (PROTOCOL.md §7) and the hub topic that carries it.
///
/// Public channels are one topic for everyone; private channels are one topic per account, so the
/// hub key carries the account id while the client only ever sees the plain channel name.
struct SubscriptionTopic: Hashable, Sendable {
    enum PublicKind: String, Sendable {
        case trades
        case book
        case ticker
    }

    enum PrivateKind: String, Sendable {
        case orders
        case fills
        case balances
        case session
    }

    enum Kind: Hashable, Sendable {
        case publicMarket(PublicKind, instrument: String)
        case privateAccount(PrivateKind, accountID: String)
    }

    let kind: Kind

    /// Parses a client's channel name; private channels need the session's account id.
    init?(channel: String, accountID: String?) {
        if let dot = channel.firstIndex(of: ".") {
            guard let kind = PublicKind(rawValue: String(channel[..<dot])) else { return nil }
            let instrument = String(channel[channel.index(after: dot)...])
            guard !instrument.isEmpty, instrument.utf8.count <= 48 else { return nil }
            self.kind = .publicMarket(kind, instrument: instrument)
        } else {
            guard let kind = PrivateKind(rawValue: channel) else { return nil }
            // Before login the account is unknown; the caller refuses with `unauthenticated`.
            self.kind = .privateAccount(kind, accountID: accountID ?? "")
        }
    }

    init(_ kind: Kind) { self.kind = kind }

    var isPrivate: Bool {
        if case .privateAccount = kind { return true }
        return false
    }

    /// What the client sees in `params.channel`.
    var channel: String {
        switch kind {
        case .publicMarket(let kind, let instrument): "\(kind.rawValue).\(instrument)"
        case .privateAccount(let kind, _): kind.rawValue
        }
    }

    /// The hub's key.
    var key: String {
        switch kind {
        case .publicMarket: channel
        case .privateAccount(let kind, let accountID): "\(kind.rawValue)#\(accountID)"
        }
    }
}
