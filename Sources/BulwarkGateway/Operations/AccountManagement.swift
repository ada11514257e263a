import BulwarkCore
import BulwarkStore

/// Account operations shared by the CLI and the admin API, so both validate funding the same way.
public struct AccountManagement: Sendable {
    public let store: any Store

    public init(store: any Store) { self.store = store }

    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// One credit: an asset (2-12 upper-case letters or digits) and a positive amount.
    public struct Credit: Sendable, Equatable {
        public let asset: String
        public let amount: FixedDecimal
    }

    /// `USD=100000,BTC=2` (the CLI's `--fund`).
    public static func parseFunding(_ text: String) throws(Failure) -> [Credit] {
        guard !text.isEmpty else { return [] }
        var credits: [Credit] = []
        for entry in text.split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw Failure("funding expects ASSET=AMOUNT[,...], got '\(entry)'") }
            credits.append(try credit(asset: parts[0], amount: parts[1]))
        }
        return credits
    }

    public static func credit(asset: String, amount: String) throws(Failure) -> Credit {
        guard AssetName.isValid(asset) else { throw Failure("asset must be 2-12 upper-case letters or digits, got '\(asset)'") }
        guard let value = FixedDecimal(parsing: amount), value.isPositive else {
            throw Failure("amount must be a positive decimal, got '\(amount)'")
        }
        return Credit(asset: asset, amount: value)
    }

    /// Creates the account and credits it; a running gateway's venue applies the deposits from the
    /// change feed.
    public func create(name: String, funding: [Credit], nowMs: Int64) throws -> AccountRecord {
        guard !name.isEmpty, name.count <= 64, name.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || "0123456789-_.@".unicodeScalars.contains($0) })
        else { throw Failure("name must be 1-64 letters, digits or -_.@") }
        let account = try store.createAccount(name: name, nowMs: nowMs)
        try credit(accountID: account.id, funding, nowMs: nowMs)
        return account
    }

    public func fund(accountID: String, _ funding: [Credit], nowMs: Int64) throws {
        guard try store.account(id: accountID) != nil else { throw Failure("no account \(accountID)") }
        try credit(accountID: accountID, funding, nowMs: nowMs)
    }

    private func credit(accountID: String, _ funding: [Credit], nowMs: Int64) throws {
        for credit in funding {
            try store.deposit(accountID: accountID, asset: credit.asset, amount: credit.amount, nowMs: nowMs)
        }
    }
}

/// Asset codes as deposits and instruments spell them.
public enum AssetName {
    /// Upper-case letters and digits, 2 to 12 characters (BTC, USD, USDT).
    public static func isValid(_ text: String) -> Bool {
        (2...12).contains(text.count) && text.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }
}
