@testable import BulwarkCore
@testable import BulwarkVenue
import Testing

/// SplitMix64: a tiny deterministic PRNG, so a failure reproduces from its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in the range (modulo bias is irrelevant here).
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }

    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }
}

/// Random place/cancel/amend/cancel-all sequences from several accounts; after EVERY operation:
/// the book never crosses, the deltas reproduce the snapshot exactly, every asset's total is
/// conserved, positions net to zero, and the engine's internal bookkeeping (holds, levels, open
/// orders) is consistent.
@Suite struct EnginePropertyTests {
    static let accounts = ["a_1", "a_2", "a_3", "a_4", "a_5"]
    static let instruments = [Fixtures.spot, Fixtures.perp, Fixtures.option]

    @Test(arguments: [UInt64(1), 42, 0xB0_17_A4])
    func randomOperationsKeepEveryInvariant(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var engine = MatchingEngine(instruments: Self.instruments)
        var replicas = Dictionary(uniqueKeysWithValues: Self.instruments.map { ($0.symbol, BookReplica(instrument: $0.symbol)) })
        for account in Self.accounts {
            // a_5 is poor: it exercises insufficient-balance refusals and exact holds.
            let rich = account != "a_5"
            _ = engine.deposit(accountID: account, asset: "USD", amount: d(rich ? "5000000" : "300"))
            _ = engine.deposit(accountID: account, asset: "BTC", amount: d(rich ? "5000" : "2"))
        }
        let totals = ["USD", "BTC"].map { ($0, engine.totalBalance(of: $0)) }
        var nowMs: Int64 = 1_000
        var clientIDs: [String: [String]] = [:]
        var stats: [String: Int] = [:]

        for step in 0..<2_000 {
            nowMs += Int64(rng.int(0...3))
            let account = rng.pick(Self.accounts)
            let seqs = Self.instruments.map { engine.snapshot(instrument: $0.symbol)!.seq }
            var events: [EngineEvent] = []
            var accepted = true
            let roll = rng.int(0...99)

            switch roll {
            case 0..<62:
                // Place: mostly limit orders around the reference, some outside the collar.
                let instrument = rng.pick(Self.instruments)
                let request = Self.randomRequest(&rng, engine: engine, account: account, instrument: instrument, clientOrderID: "s\(step)")
                switch engine.place(request, nowMs: nowMs) {
                case .success(let outcome):
                    events = outcome.events
                    #expect(!outcome.duplicate)
                    clientIDs[account, default: []].append(request.clientOrderID)
                    stats["trades", default: 0] += outcome.trades.count
                    stats["status.\(outcome.order.status.rawValue)", default: 0] += 1
                    // Cancel reasons of every order the operation touched (self-trade prevention
                    // cancels resting orders, not the incoming one).
                    for case .orderUpdate(let order) in outcome.events {
                        if let reason = order.cancelReason { stats["reason.\(reason.rawValue)", default: 0] += 1 }
                    }
                    // Every trade happened at or better than the taker's limit.
                    if let limit = request.price {
                        for trade in outcome.trades {
                            #expect(request.side == .buy ? trade.price <= limit : trade.price >= limit)
                        }
                    }
                case .failure(let rejection):
                    accepted = false
                    stats["rejected.\(rejection.code.name)", default: 0] += 1
                }
            case 62..<64:
                // Replay an earlier client order id: the original, no events.
                if let cid = clientIDs[account]?.last {
                    let replay = OrderRequest(
                        accountID: account, instrument: "BTC-USD", side: .buy, type: .limit, qty: d("1"), price: d("100"),
                        timeInForce: .gtc, clientOrderID: cid)
                    let outcome = try engine.place(replay, nowMs: nowMs).get()
                    #expect(outcome.duplicate && outcome.events.isEmpty)
                    stats["duplicates", default: 0] += 1
                }
                accepted = false
            case 64..<84:
                // Cancel one of mine, or try someone else's (must be not found and change nothing).
                let owner = rng.chance(85) ? account : rng.pick(Self.accounts)
                let open = engine.openOrders(accountID: owner)
                if let target = open.isEmpty ? nil : rng.pick(open) {
                    let result = engine.cancel(accountID: account, orderID: target.orderID, nowMs: nowMs)
                    if owner == account {
                        events = try result.get().events
                        stats["cancels", default: 0] += 1
                    } else {
                        #expect(result.failureCode == .orderNotFound)
                        accepted = false
                    }
                } else {
                    accepted = false
                }
            case 84..<96:
                // Amend one of mine: a new price, a new size, or both.
                let open = engine.openOrders(accountID: account)
                if let target = open.isEmpty ? nil : rng.pick(open), let instrument = engine.instrument(target.instrument) {
                    let price = rng.chance(60) ? Self.randomPrice(&rng, engine: engine, instrument: instrument, wide: false) : nil
                    let qty = rng.chance(60) || price == nil ? target.filledQty + Self.randomQty(&rng, instrument: instrument) : nil
                    switch engine.amend(accountID: account, orderID: target.orderID, newPrice: price, newQty: qty, nowMs: nowMs) {
                    case .success(let outcome):
                        events = outcome.events
                        stats["amends", default: 0] += 1
                    case .failure(let rejection):
                        accepted = false
                        stats["amendRejected.\(rejection.reason ?? rejection.code.name)", default: 0] += 1
                    }
                } else {
                    accepted = false
                }
            default:
                let symbol: String? = rng.chance(50) ? nil : rng.pick(Self.instruments).symbol
                events = engine.cancelAll(accountID: account, instrument: symbol, nowMs: nowMs).1
                stats["cancelAlls", default: 0] += 1
            }

            var failures: [String] = []
            // A refused operation changes no book.
            if !accepted, Self.instruments.map({ engine.snapshot(instrument: $0.symbol)!.seq }) != seqs {
                failures.append("a refused operation changed a book")
            }
            // Published balances are the final ones.
            for case .balanceUpdate(let owner, let balance) in events
            where engine.balances(accountID: owner).first(where: { $0.asset == balance.asset }) != balance {
                failures.append("stale balance event \(owner) \(balance)")
            }
            for instrument in Self.instruments {
                let symbol = instrument.symbol
                let snapshot = engine.snapshot(instrument: symbol)!
                if let gap = replicas[symbol]!.apply(events) { failures.append(gap) }
                if replicas[symbol]!.snapshot != snapshot {
                    failures.append("\(symbol): deltas give \(replicas[symbol]!.snapshot), the book is \(snapshot)")
                }
                if let bid = snapshot.bids.first?.price, let ask = snapshot.asks.first?.price, bid >= ask {
                    failures.append("\(symbol) crossed: \(bid) >= \(ask)")
                }
                let net = Self.accounts.reduce(FixedDecimal.zero) { sum, account in
                    sum + (engine.positions(accountID: account).first { $0.instrument == symbol }?.qty ?? .zero)
                }
                if !net.isZero { failures.append("\(symbol) positions net \(net)") }
            }
            for (asset, total) in totals where engine.totalBalance(of: asset) != total {
                failures.append("\(asset) not conserved: \(engine.totalBalance(of: asset)) != \(total)")
            }
            failures += engine.auditInvariants()
            #expect(failures.isEmpty, "seed \(seed) step \(step): \(failures)")
            if !failures.isEmpty { break }  // later steps would only repeat the divergence
        }
        // The sequence exercised what it is meant to exercise.
        #expect(stats["trades", default: 0] > 200, "\(stats)")
        #expect(stats["cancels", default: 0] > 50, "\(stats)")
        #expect(stats["amends", default: 0] > 20, "\(stats)")
        #expect(stats["reason.self_trade_prevention", default: 0] > 0, "\(stats)")
        #expect(stats["rejected.price_out_of_band", default: 0] > 0, "\(stats)")
        #expect(stats["rejected.risk_limit", default: 0] > 0, "\(stats)")
        #expect(stats["status.open", default: 0] > 100, "\(stats)")
        #expect(engine.totalBalance(of: "USD") == totals[0].1)
    }

    static func randomQty(_ rng: inout SplitMix64, instrument: Instrument) -> FixedDecimal {
        let lots = Int128(rng.chance(85) ? rng.int(0...40) : rng.int(41...400))
        return instrument.minQty + FixedDecimal(units: instrument.lotSize.units * lots)
    }

    /// On tick around the reference; with `wide`, sometimes just outside the collar.
    static func randomPrice(_ rng: inout SplitMix64, engine: MatchingEngine, instrument: Instrument, wide: Bool) -> FixedDecimal {
        let reference = engine.referencePrice(instrument.symbol)!
        let band = reference.multiplied(by: instrument.priceCollar!)!
        let ticks = Int(band.units / instrument.tickSize.units)
        let reach = wide && rng.chance(10) ? ticks + 3 : ticks
        // Crowd the middle so both sides meet often.
        let offset = rng.chance(70) ? rng.int(-min(6, reach)...min(6, reach)) : rng.int(-reach...reach)
        let base = FixedDecimal(units: (reference.units / instrument.tickSize.units) * instrument.tickSize.units)
        return max(instrument.tickSize, base + FixedDecimal(units: instrument.tickSize.units * Int128(offset)))
    }

    static func randomRequest(
        _ rng: inout SplitMix64, engine: MatchingEngine, account: String, instrument: Instrument, clientOrderID: String
    ) -> OrderRequest {
        let side: OrderSide = rng.chance(50) ? .buy : .sell
        let qty = randomQty(&rng, instrument: instrument)
        if rng.chance(10) {
            return OrderRequest(
                accountID: account, instrument: instrument.symbol, side: side, type: .market, qty: qty, price: nil,
                timeInForce: rng.chance(75) ? .ioc : .fok, clientOrderID: clientOrderID)
        }
        let roll = rng.int(0...99)
        let tif: TimeInForce = roll < 60 ? .gtc : roll < 75 ? .ioc : roll < 85 ? .fok : .postOnly
        return OrderRequest(
            accountID: account, instrument: instrument.symbol, side: side, type: .limit, qty: qty,
            price: randomPrice(&rng, engine: engine, instrument: instrument, wide: true), timeInForce: tif,
            clientOrderID: clientOrderID)
    }
}
