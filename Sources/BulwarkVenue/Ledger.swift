import BulwarkCore

/// Balances (total and held per account and asset) and positions.
///
/// Every movement is a `transfer` that debits one account and credits another by the same exact
/// amount, so each asset's sum over all accounts changes only through deposits. Holds do not move
/// anything: they only make part of `total` unavailable.
struct Ledger {
    struct Entry {
        var total: FixedDecimal = .zero
        var held: FixedDecimal = .zero
        var available: FixedDecimal { total - held }
    }

    private struct Key: Hashable {
        let account: String
        let name: String
    }

    private(set) var entries: [String: [String: Entry]] = [:]
    private(set) var positions: [String: [String: FixedDecimal]] = [:]
    /// Pairs touched since the last drain, in first-touch order.
    private var touchedBalances: [Key] = []
    private var touchedBalanceSet: Set<Key> = []
    private var touchedPositions: [Key] = []
    private var touchedPositionSet: Set<Key> = []

    func entry(_ account: String, _ asset: String) -> Entry { entries[account]?[asset] ?? Entry() }

    func available(_ account: String, _ asset: String) -> FixedDecimal { entry(account, asset).available }

    mutating func credit(_ account: String, _ asset: String, _ amount: FixedDecimal) {
        entries[account, default: [:]][asset, default: Entry()].total += amount
        touchBalance(account, asset)
    }

    mutating func transfer(_ amount: FixedDecimal, of asset: String, from: String, to: String) {
        guard !amount.isZero, from != to else { return }
        entries[from, default: [:]][asset, default: Entry()].total -= amount
        entries[to, default: [:]][asset, default: Entry()].total += amount
        touchBalance(from, asset)
        touchBalance(to, asset)
    }

    /// Makes `amount` more (positive) or less (negative) of `total` unavailable.
    mutating func changeHold(_ account: String, _ asset: String, by amount: FixedDecimal) {
        guard !amount.isZero else { return }
        entries[account, default: [:]][asset, default: Entry()].held += amount
        touchBalance(account, asset)
    }

    mutating func addPosition(_ account: String, _ instrument: String, _ delta: FixedDecimal) {
        guard !delta.isZero else { return }
        positions[account, default: [:]][instrument, default: .zero] += delta
        let key = Key(account: account, name: instrument)
        if touchedPositionSet.insert(key).inserted { touchedPositions.append(key) }
    }

    private mutating func touchBalance(_ account: String, _ asset: String) {
        let key = Key(account: account, name: asset)
        if touchedBalanceSet.insert(key).inserted { touchedBalances.append(key) }
    }

    /// Events for everything touched since the last call, once per pair with its final value, in
    /// first-touch order: balances, then positions.
    mutating func drainEvents() -> [EngineEvent] {
        var events: [EngineEvent] = []
        events.reserveCapacity(touchedBalances.count + touchedPositions.count)
        for key in touchedBalances {
            let e = entry(key.account, key.name)
            events.append(.balanceUpdate(accountID: key.account, Balance(asset: key.name, total: e.total, available: e.available)))
        }
        for key in touchedPositions {
            events.append(.positionUpdate(accountID: key.account, Position(instrument: key.name, qty: positions[key.account]?[key.name] ?? .zero)))
        }
        touchedBalances.removeAll(keepingCapacity: true)
        touchedBalanceSet.removeAll(keepingCapacity: true)
        touchedPositions.removeAll(keepingCapacity: true)
        touchedPositionSet.removeAll(keepingCapacity: true)
        return events
    }

    func balances(_ account: String) -> [Balance] {
        (entries[account] ?? [:]).sorted { $0.key < $1.key }.map { Balance(asset: $0.key, total: $0.value.total, available: $0.value.available) }
    }

    func positions(_ account: String) -> [Position] {
        (positions[account] ?? [:]).sorted { $0.key < $1.key }.map { Position(instrument: $0.key, qty: $0.value) }
    }

    /// Sum of an asset's totals over all accounts (conserved: only deposits change it).
    func sum(of asset: String) -> FixedDecimal {
        entries.values.reduce(.zero) { $0 + ($1[asset]?.total ?? .zero) }
    }
}
