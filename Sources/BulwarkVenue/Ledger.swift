import BulwarkCore

/// Balances (total and held per account and asset) and positions. Every transfer debits one
/// account and credits another by the same exact amount, so each asset's sum over all accounts
/// only changes through deposits.
struct Ledger {
    struct Entry {
        var total: FixedDecimal = .zero
        var held: FixedDecimal = .zero
        var available: FixedDecimal { total - held }
    }

    private(set) var entries: [String: [String: Entry]] = [:]
    private(set) var positions: [String: [String: FixedDecimal]] = [:]
    /// (account, asset) pairs and (account, instrument) pairs touched since the last drain.
    private var touchedBalances: [(String, String)] = []
    private var touchedPositions: [(String, String)] = []

    func entry(_ account: String, _ asset: String) -> Entry { entries[account]?[asset] ?? Entry() }

    mutating func credit(_ account: String, _ asset: String, _ amount: FixedDecimal) {
        entries[account, default: [:]][asset, default: Entry()].total += amount
        touch(account, asset)
    }

    mutating func debit(_ account: String, _ asset: String, _ amount: FixedDecimal) {
        entries[account, default: [:]][asset, default: Entry()].total -= amount
        touch(account, asset)
    }

    mutating func transfer(_ amount: FixedDecimal, of asset: String, from: String, to: String) {
        guard !amount.isZero else { return }
        debit(from, asset, amount)
        credit(to, asset, amount)
    }

    mutating func hold(_ account: String, _ asset: String, _ amount: FixedDecimal) {
        entries[account, default: [:]][asset, default: Entry()].held += amount
        touch(account, asset)
    }

    mutating func release(_ account: String, _ asset: String, _ amount: FixedDecimal) {
        guard !amount.isZero else { return }
        entries[account, default: [:]][asset, default: Entry()].held -= amount
        touch(account, asset)
    }

    mutating func addPosition(_ account: String, _ instrument: String, _ delta: FixedDecimal) {
        positions[account, default: [:]][instrument, default: .zero] += delta
        touchedPositions.append((account, instrument))
    }

    private mutating func touch(_ account: String, _ asset: String) { touchedBalances.append((account, asset)) }

    /// Events for everything touched since the last call, once per pair, in first-touch order.
    mutating func drainEvents() -> [EngineEvent] {
        var events: [EngineEvent] = []
        var seen = Set<String>()
        for (account, asset) in touchedBalances where seen.insert("b\u{0}\(account)\u{0}\(asset)").inserted {
            let e = entry(account, asset)
            events.append(.balanceUpdate(accountID: account, Balance(asset: asset, total: e.total, available: e.available)))
        }
        for (account, instrument) in touchedPositions where seen.insert("p\u{0}\(account)\u{0}\(instrument)").inserted {
            events.append(.positionUpdate(accountID: account, Position(instrument: instrument, qty: positions[account]?[instrument] ?? .zero)))
        }
        touchedBalances.removeAll(keepingCapacity: true)
        touchedPositions.removeAll(keepingCapacity: true)
        return events
    }

    func balances(_ account: String) -> [Balance] {
        (entries[account] ?? [:]).sorted { $0.key < $1.key }.map { Balance(asset: $0.key, total: $0.value.total, available: $0.value.available) }
    }

    func positions(_ account: String) -> [Position] {
        (positions[account] ?? [:]).sorted { $0.key < $1.key }.map { Position(instrument: $0.key, qty: $0.value) }
    }

    /// Sum of an asset over all accounts (tests check it is conserved).
    func sum(of asset: String) -> FixedDecimal {
        entries.values.reduce(.zero) { $0 + ($1[asset]?.total ?? .zero) }
    }
}
