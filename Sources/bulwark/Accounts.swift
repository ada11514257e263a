import ArgumentParser
import BulwarkCore
import BulwarkGateway
import BulwarkStore
import Foundation

struct Accounts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage accounts.", subcommands: [Create.self, List.self, Disable.self, Enable.self, SetTier.self])

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an account: its live sessions end (4002) and its keys stop working.")
        @OptionGroup var options: DataOptions
        @Argument(help: "Account id (a_...).") var accountID: String
        func run() async throws {
            try OperatorStore.open(options.resolvedData).setAccountStatus(id: accountID, .disabled, nowMs: SystemClock().nowMs())
            OperatorAudit.record(data: options.resolvedData, "cli.account.disable", subject: accountID)
            print(options.json ? "{\"disabled\":true}" : "disabled \(accountID)")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-enable a disabled account.")
        @OptionGroup var options: DataOptions
        @Argument(help: "Account id (a_...).") var accountID: String
        func run() async throws {
            try OperatorStore.open(options.resolvedData).setAccountStatus(id: accountID, .enabled, nowMs: SystemClock().nowMs())
            OperatorAudit.record(data: options.resolvedData, "cli.account.enable", subject: accountID)
            print(options.json ? "{\"enabled\":true}" : "enabled \(accountID)")
        }
    }

    struct SetTier: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-tier", abstract: "Set an account's rate-limit tier (its account buckets' limits, docs/rate-limits.md).")
        @OptionGroup var options: DataOptions
        @Argument(help: "Account id (a_...).") var accountID: String
        @Argument(help: "standard, professional or market_maker.") var tier: String

        func run() async throws {
            guard let tier = AccountTier(rawValue: tier) else {
                throw CommandFailure("the tier must be one of \(AccountTier.allCases.map(\.rawValue).joined(separator: ", ")), got '\(self.tier)'")
            }
            do {
                try OperatorStore.open(options.resolvedData).setAccountTier(id: accountID, tier, nowMs: SystemClock().nowMs())
            } catch let error as StoreError {
                throw CommandFailure(error.description)
            }
            print(options.json ? "{\"account_id\":\"\(accountID)\",\"tier\":\"\(tier.rawValue)\"}" : "account \(accountID) is now \(tier.rawValue)")
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an account, optionally funded.")

        @OptionGroup var options: DataOptions

        @Option(name: .long, help: "Unique account name.")
        var name: String

        @Option(name: .long, help: "Initial balances, e.g. USD=100000,BTC=2.")
        var fund: String?

        func run() async throws {
            let funding = try parseFunding(fund)
            let store = try OperatorStore.open(options.resolvedData)
            let clock = SystemClock()
            let account = try store.createAccount(name: name, nowMs: clock.nowMs())
            for (asset, amount) in funding {
                try store.deposit(accountID: account.id, asset: asset, amount: amount, nowMs: clock.nowMs())
            }
            OperatorAudit.record(store, "cli.account.create", subject: account.id, details: ["funded": funding.map { "\($0.0)=\($0.1)" }.joined(separator: ",")])
            if options.json {
                var w = JSONWriter()
                w.beginObject()
                w.key("account_id")
                w.string(account.id)
                w.endObject()
                print(w.string)
            } else {
                print("created account \(account.id) (\(account.name))")
            }
        }

        private func parseFunding(_ text: String?) throws -> [(String, FixedDecimal)] {
            guard let text, !text.isEmpty else { return [] }
            return try text.split(separator: ",").map { entry in
                let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, AssetName.isValid(parts[0]), let amount = FixedDecimal(parsing: parts[1]), amount.isPositive else {
                    throw CommandFailure("--fund expects ASSET=AMOUNT[,...] with positive decimal amounts, got '\(entry)'")
                }
                return (parts[0], amount)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List accounts.")

        @OptionGroup var options: DataOptions

        func run() async throws {
            let store = try OperatorStore.open(options.resolvedData)
            let accounts = try store.accounts()
            if options.json {
                var w = JSONWriter()
                w.beginObject()
                w.key("accounts")
                w.beginArray()
                for account in accounts {
                    w.beginObject()
                    w.key("account_id")
                    w.string(account.id)
                    w.key("name")
                    w.string(account.name)
                    w.key("status")
                    w.string(account.status.rawValue)
                    w.endObject()
                }
                w.endArray()
                w.endObject()
                print(w.string)
            } else {
                for account in accounts { print("\(account.id)  \(account.status.rawValue)  \(account.name)") }
            }
        }
    }
}

enum AssetName {
    /// Upper-case letters and digits, 2 to 12 characters (BTC, USD, USDT).
    static func isValid(_ text: String) -> Bool {
        (2...12).contains(text.count) && text.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }
}

/// Opens an existing data folder's store for operator commands; never creates one by accident.
enum OperatorStore {
    static func open(_ path: String) throws -> any Store {
        let folder = DataFolder(path: path)
        let location = try StoreLocation.fromEnvironment()
        if case .postgres = location {
            // The database is shared; the folder still holds the keys operator commands need.
            guard FileManager.default.fileExists(atPath: folder.identityKeyPath) else {
                throw CommandFailure("no data folder at \(path): run `bulwark init --data \(path)` first")
            }
            return try folder.openStore(location, nodeID: "cli")
        }
        guard FileManager.default.fileExists(atPath: folder.databasePath) else {
            throw CommandFailure("no database in \(path): run `bulwark init --data \(path)` or `bulwark serve` first")
        }
        return try SQLiteStore(path: folder.databasePath)
    }
}
