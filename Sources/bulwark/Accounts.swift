import ArgumentParser
import BulwarkCore
import BulwarkGateway
import BulwarkStore
import Foundation

struct Accounts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage accounts.", subcommands: [Create.self, List.self, Show.self, Fund.self, Disable.self, Enable.self, SetTier.self])

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
            let store = try OperatorStore.open(options.resolvedData)
            let account: AccountRecord
            let funding: [AccountManagement.Credit]
            do {
                funding = try AccountManagement.parseFunding(fund ?? "")
                account = try AccountManagement(store: store).create(name: name, funding: funding, nowMs: SystemClock().nowMs())
            } catch let failure as AccountManagement.Failure {
                throw CommandFailure("--fund/--name: \(failure.description)")
            } catch let error as StoreError {
                throw CommandFailure(error.description)
            }
            OperatorAudit.record(store, "cli.account.create", subject: account.id, details: ["funded": funding.map { "\($0.asset)=\($0.amount)" }.joined(separator: ",")])
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
    }

    struct Fund: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Credit an existing account (a deposit per asset); a running gateway applies it within 250 ms.")
        @OptionGroup var options: DataOptions
        @Argument(help: "Account id (a_...).") var accountID: String
        @Option(name: .long, help: "Amounts to credit, e.g. USD=100000,BTC=2 (each at most 10^15).") var fund: String

        func run() async throws {
            let store = try OperatorStore.open(options.resolvedData)
            let funding: [AccountManagement.Credit]
            do {
                funding = try AccountManagement.parseFunding(fund)
                guard !funding.isEmpty else { throw CommandFailure("--fund names nothing to credit") }
                try AccountManagement(store: store).fund(accountID: accountID, funding, nowMs: SystemClock().nowMs())
            } catch let failure as AccountManagement.Failure {
                throw CommandFailure(failure.description)
            } catch let error as StoreError {
                throw CommandFailure(error.description)
            }
            let text = funding.map { "\($0.asset)=\($0.amount)" }.joined(separator: ",")
            OperatorAudit.record(store, "cli.account.fund", subject: accountID, details: ["funded": text])
            print(options.json ? "{\"account_id\":\"\(accountID)\",\"credited\":\(funding.count)}" : "credited \(text) to \(accountID)")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One account: status, tier, keys and live sessions.")
        @OptionGroup var options: DataOptions
        @Argument(help: "Account id (a_...).") var accountID: String

        func run() async throws {
            let store = try OperatorStore.open(options.resolvedData)
            guard let account = try store.account(id: accountID) else { throw CommandFailure("no account \(accountID)") }
            let tier = try store.accountTier(id: accountID) ?? .standard
            let keys = try store.keys(accountID: accountID)
            let live = try store.sessionRecords(accountID: accountID, includeEnded: false, limit: 10_000).count
            if options.json {
                var w = JSONWriter()
                AccountRendering.write(account, tier: tier, to: &w) { w in
                    w.key("keys")
                    w.int(Int64(keys.count))
                    w.key("live_sessions")
                    w.int(Int64(live))
                }
                print(w.string)
            } else {
                print("\(account.id)  \(account.name)  \(account.status.rawValue)  tier \(tier.rawValue)  \(keys.count) key(s)  \(live) live session(s)")
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
                for account in accounts { AccountRendering.write(account, tier: (try? store.accountTier(id: account.id)) ?? .standard, to: &w) }
                w.endArray()
                w.endObject()
                print(w.string)
            } else {
                for account in accounts {
                    let tier = (try? store.accountTier(id: account.id)) ?? .standard
                    print("\(account.id)  \(account.status.rawValue)  \(tier.rawValue)  \(account.name)")
                }
            }
        }
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
