import BulwarkCore

/// The demo market's liquidity simulator: each step picks the next instrument (round robin),
/// moves a private "fair price" one step (0.1 % of the reference) at random, staying within half
/// the collar of the reference, rests one post-only house order a few steps from it, and cancels
/// the house's oldest order there once it has more than `maxOrdersPerInstrument`. So a fresh demo
/// gateway shows a book that moves. The house never crosses anyone: post-only orders that would
/// are cancelled by the engine, and the house does not trade with itself (no trades are made up).
///
/// It only proposes commands; the venue applies (and journals) them like any other operation.
struct LiquiditySimulator {
    static let maxOrdersPerInstrument = 16
    private var fair: [String: FixedDecimal] = [:]
    private var nextInstrument = 0
    private var counter: UInt64 = 0

    mutating func step(accountID: String, engine: MatchingEngine, nowMs: Int64, seed: UInt64) -> [VenueCommand] {
        let instruments = engine.listInstruments.filter { $0.status == .trading && $0.priceCollar != nil }
        guard !instruments.isEmpty else { return [] }
        let instrument = instruments[nextInstrument % instruments.count]
        nextInstrument += 1
        var random = seed
        func roll(_ count: UInt64) -> UInt64 {
            // SplitMix64 step: enough randomness for a demo, reproducible from the seed.
            random &+= 0x9E37_79B9_7F4A_7C15
            var z = random
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return (z ^ (z >> 31)) % count
        }
        let symbol = instrument.symbol
        let reference = engine.referencePrice(symbol) ?? instrument.initialReferencePrice
        let tick = instrument.tickSize.units
        let rawStep = (reference.multiplied(by: FixedDecimal(units: FixedDecimal.one / 1000)) ?? instrument.tickSize).units
        let step = max(tick, rawStep / tick * tick)
        let halfBand = ((reference.multiplied(by: instrument.priceCollar!) ?? .zero).units / 2) / tick * tick
        var price = (fair[symbol] ?? reference).units
        switch roll(3) {
        case 0: price -= step
        case 1: price += step
        default: break
        }
        price = min(max(price, reference.units - halfBand), reference.units + halfBand)
        price = price / tick * tick
        fair[symbol] = FixedDecimal(units: price)

        var commands: [VenueCommand] = []
        let house = engine.openOrders(accountID: accountID).filter { $0.instrument == symbol }
        if house.count >= Self.maxOrdersPerInstrument, let oldest = house.first {
            commands.append(.cancel(accountID: accountID, orderID: oldest.orderID))
        }
        let side: OrderSide = roll(2) == 0 ? .buy : .sell
        let distance = step * Int128(1 + roll(6))
        let limit = side == .buy ? price - distance : price + distance
        guard limit > 0 else { return commands }
        let qty = instrument.minQty.units * Int128(1 + roll(50))
        counter += 1
        commands.append(
            .place(
                OrderRequest(
                    accountID: accountID, instrument: symbol, side: side, type: .limit, qty: FixedDecimal(units: qty),
                    price: FixedDecimal(units: limit), timeInForce: .postOnly, clientOrderID: "sim-\(nowMs)-\(counter)")))
        return commands
    }
}
