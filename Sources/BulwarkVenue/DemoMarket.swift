import BulwarkCore

/// The demo market a fresh `bulwark serve` lists: spot, a perpetual and options, with a house
/// account resting a ladder of orders on each so that a new user's first order trades. Position
/// limits: 500 BTC on the perpetual, 1000 contracts on the option.
public enum DemoMarket {
    public static let houseAccountName = "house"

    public static let houseFunding: [(String, String)] = [("USD", "100000000"), ("BTC", "10000"), ("ETH", "100000")]
    public static let demoFunding: [(String, String)] = [("USD", "100000"), ("BTC", "2"), ("ETH", "20")]

    /// The house account of a venue process run with `--demo` (`bulwark venue`): the venue funds
    /// it itself, with deposit ids below zero (a store's deposit ids are positive).
    public static let venueHouseAccountID = "a_venue_house"

    public static var venueHouseDeposits: [VenueDeposit] {
        houseFunding.enumerated().map { index, funding in
            VenueDeposit(id: -Int64(index + 1), accountID: venueHouseAccountID, asset: funding.0, amount: d(funding.1))
        }
    }

    private static func d(_ text: String) -> FixedDecimal { FixedDecimal(parsing: text)! }

    public static let instruments: [Instrument] = [
        Instrument(
            symbol: "BTC-USD", kind: .spot, baseAsset: "BTC", quoteAsset: "USD", tickSize: d("0.5"), lotSize: d("0.0001"),
            minQty: d("0.0001"), maxQty: d("100"), maxOrderNotional: d("5000000"), priceCollar: d("0.1"),
            initialReferencePrice: d("60000"), makerFeeRate: d("0.0002"), takerFeeRate: d("0.0005")),
        Instrument(
            symbol: "ETH-USD", kind: .spot, baseAsset: "ETH", quoteAsset: "USD", tickSize: d("0.05"), lotSize: d("0.001"),
            minQty: d("0.001"), maxQty: d("1000"), maxOrderNotional: d("5000000"), priceCollar: d("0.1"),
            initialReferencePrice: d("5000"), makerFeeRate: d("0.0002"), takerFeeRate: d("0.0005")),
        Instrument(
            symbol: "BTC-PERP", kind: .perpetual, baseAsset: "BTC", quoteAsset: "USD", tickSize: d("0.5"), lotSize: d("0.001"),
            minQty: d("0.001"), maxQty: d("100"), maxOrderNotional: d("5000000"), priceCollar: d("0.05"),
            initialReferencePrice: d("60000"), makerFeeRate: d("0.0001"), takerFeeRate: d("0.0004"), maxPosition: d("500")),
        Instrument(
            symbol: "BTC-20261225-70000-C",
            kind: .option(underlying: "BTC", strike: d("70000"), expiryMs: 1_798_185_600_000, right: .call), baseAsset: "BTC",
            quoteAsset: "USD", tickSize: d("5"), lotSize: d("0.01"), minQty: d("0.01"), maxQty: d("50"),
            maxOrderNotional: d("1000000"), priceCollar: d("0.5"), initialReferencePrice: d("2500"),
            makerFeeRate: d("0.0003"), takerFeeRate: d("0.0003"), maxPosition: d("1000")),
    ]

    /// Five bids and five asks around each reference price, 0.1 % apart.
    static func houseLadder(accountID: String, instruments: [Instrument]) -> [OrderRequest] {
        var requests: [OrderRequest] = []
        for instrument in instruments {
            let reference = instrument.initialReferencePrice
            let step = max(reference.multiplied(by: d("0.001")) ?? instrument.tickSize, instrument.tickSize)
            let roundedStep = FixedDecimal(units: (step.units / instrument.tickSize.units) * instrument.tickSize.units)
            let qty = FixedDecimal(units: instrument.minQty.units * 100)
            for level in 1...5 {
                let offset = FixedDecimal(units: roundedStep.units * Int128(level))
                for (side, price) in [(OrderSide.buy, reference - offset), (.sell, reference + offset)] {
                    requests.append(
                        OrderRequest(
                            accountID: accountID, instrument: instrument.symbol, side: side, type: .limit, qty: qty, price: price,
                            timeInForce: .gtc, clientOrderID: "house-\(instrument.symbol)-\(side.rawValue)-\(level)"))
                }
            }
        }
        return requests
    }
}
