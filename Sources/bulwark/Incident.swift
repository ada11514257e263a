import ArgumentParser
import BulwarkCore
import BulwarkGateway
import BulwarkStore
import Foundation

struct KillSwitch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill-switch",
        abstract: "Stop trading for an account, a key or everyone: open orders cancelled, sessions ended (4003), new orders refused.",
        subcommands: [Engage.self, Release.self, List.self])

    struct Target: ParsableArguments {
        @Option(name: .long, help: "An account id (a_...).") var account: String?
        @Option(name: .long, help: "A key id (k_...).") var key: String?
        @Flag(name: .long, help: "Every account.") var global = false

        func resolve() throws -> (KillSwitchRecord.Scope, String) {
            switch (account, key, global) {
            case (let account?, nil, false): return (.account, account)
            case (nil, let key?, false): return (.key, key)
            case (nil, nil, true): return (.global, "*")
            default: throw CommandFailure("give exactly one of --account, --key, --global")
            }
        }
    }

    struct Engage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Engage (a running gateway applies it within a second).")
        @OptionGroup var options: DataOptions
        @OptionGroup var target: Target
        @Option(name: .long, help: "Why (recorded in the audit log).") var reason: String = "operator"

        func run() async throws {
            let (scope, subject) = try target.resolve()
            let store = try OperatorStore.open(options.resolvedData)
            let record: KillSwitchRecord
            do {
                record = try store.engageKillSwitch(scope: scope, subject: subject, reason: reason, by: OperatorAudit.actor, nowMs: SystemClock().nowMs())
            } catch let error as StoreError {
                throw CommandFailure(error.description)
            }
            OperatorAudit.record(store, "cli.killswitch.engage", subject: subject, details: ["scope": scope.rawValue, "reason": reason])
            var w = JSONWriter()
            IncidentRendering.killSwitch(record, to: &w)
            print(options.json ? w.string : "kill switch engaged: \(scope.rawValue) \(subject) (id \(record.id))")
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Release: trading resumes (sessions log in again; cancelled orders stay cancelled).")
        @OptionGroup var options: DataOptions
        @OptionGroup var target: Target

        func run() async throws {
            let (scope, subject) = try target.resolve()
            let store = try OperatorStore.open(options.resolvedData)
            do {
                _ = try store.releaseKillSwitch(scope: scope, subject: subject, by: OperatorAudit.actor, nowMs: SystemClock().nowMs())
            } catch let error as StoreError {
                throw CommandFailure(error.description)
            }
            OperatorAudit.record(store, "cli.killswitch.release", subject: subject, details: ["scope": scope.rawValue])
            print(options.json ? "{\"released\":true}" : "kill switch released: \(scope.rawValue) \(subject)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Engaged kill switches (with --all, released ones too).")
        @OptionGroup var options: DataOptions
        @Flag(name: .long, help: "Include released ones.") var all = false

        func run() async throws {
            print(IncidentRendering.killSwitches(try OperatorStore.open(options.resolvedData).killSwitches(includeReleased: all)))
        }
    }
}

struct IPBlock: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ip-block",
        abstract: "Refuse client networks at the door (403 before the upgrade; live connections from them close with 1008).",
        subcommands: [Add.self, Remove.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Block an address or CIDR, optionally for a time.")
        @OptionGroup var options: DataOptions
        @Argument(help: "Address or CIDR (IPv4 or IPv6).") var cidr: String
        @Option(name: .long, help: "Lift the block after this many seconds (default: until removed).") var forSeconds: Int64?
        @Option(name: .long, help: "Why (recorded).") var reason: String = "operator"

        func run() async throws {
            guard let network = IPNetwork(cidr) else { throw CommandFailure("'\(cidr)' is not an address or CIDR") }
            if let forSeconds, forSeconds <= 0 { throw CommandFailure("--for-seconds must be positive") }
            let store = try OperatorStore.open(options.resolvedData)
            let now = SystemClock().nowMs()
            let record = try store.addIPBlock(network, reason: reason, by: OperatorAudit.actor, nowMs: now, expiresMs: forSeconds.map { now + $0 * 1000 })
            OperatorAudit.record(store, "cli.ipblock.add", subject: network.description, details: ["reason": reason])
            var w = JSONWriter()
            IncidentRendering.ipBlock(record, to: &w)
            print(options.json ? w.string : "blocked \(network)")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift every active block of exactly this address or CIDR.")
        @OptionGroup var options: DataOptions
        @Argument(help: "Address or CIDR, as it was blocked.") var cidr: String

        func run() async throws {
            guard let network = IPNetwork(cidr) else { throw CommandFailure("'\(cidr)' is not an address or CIDR") }
            let store = try OperatorStore.open(options.resolvedData)
            do {
                try store.removeIPBlock(network, nowMs: SystemClock().nowMs())
            } catch let error as StoreError {
                throw CommandFailure(error.description)
            }
            OperatorAudit.record(store, "cli.ipblock.remove", subject: network.description)
            print(options.json ? "{\"removed\":true}" : "unblocked \(network)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Active blocks (with --all, expired and removed ones too).")
        @OptionGroup var options: DataOptions
        @Flag(name: .long, help: "Include expired and removed blocks.") var all = false

        func run() async throws {
            print(IncidentRendering.ipBlocks(try OperatorStore.open(options.resolvedData).ipBlocks(activeAtMs: all ? nil : SystemClock().nowMs())))
        }
    }
}
