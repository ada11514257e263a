import ArgumentParser
import BulwarkCore
import BulwarkGateway
import BulwarkStore
import Foundation

struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and revoke sessions (a running gateway closes a revoked session's sockets within a second).",
        subcommands: [List.self, Show.self, Revoke.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sessions, newest first: live ones, or all with --all.")
        @OptionGroup var options: DataOptions
        @Option(name: .long, help: "Only this account's sessions (a_...).") var account: String?
        @Flag(name: .long, help: "Include ended sessions, with why and when they ended.") var all = false
        @Option(name: .long, help: "At most this many sessions.") var limit: Int = 100

        func run() async throws {
            let records = try OperatorStore.open(options.resolvedData).sessionRecords(
                accountID: account, includeEnded: all, limit: max(1, min(limit, 10_000)))
            if options.json {
                var w = JSONWriter()
                w.beginObject()
                w.key("sessions")
                w.beginArray()
                for record in records { SessionRendering.write(record, to: &w) }
                w.endArray()
                w.endObject()
                print(w.string)
                return
            }
            guard !records.isEmpty else { return print(all ? "no sessions" : "no live sessions (--all shows ended ones)") }
            for record in records {
                let state = record.endedMs.map { "ended \(Self.time($0)) (\(record.endReason ?? "?"))" } ?? "live"
                print(
                    "\(record.id)  account \(record.accountID)  key \(record.credentialID)  from \(record.clientIP)  "
                        + "risk \(record.riskLevel) \(record.riskScore)  created \(Self.time(record.createdMs))  \(state)")
            }
        }

        static func time(_ ms: Int64) -> String {
            ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One session's record, as JSON.")
        @OptionGroup var options: DataOptions
        @Argument(help: "Session id (s_...).") var sessionID: String

        func run() async throws {
            guard let record = try OperatorStore.open(options.resolvedData).sessionRecord(id: sessionID) else {
                throw CommandFailure("no session \(sessionID)")
            }
            var w = JSONWriter()
            SessionRendering.write(record, to: &w)
            print(w.string)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a live session, or every live session of an account: the gateway sends session.terminated and closes their sockets with 4002.")
        @OptionGroup var options: DataOptions
        @Argument(help: "Session id (s_...).") var sessionID: String?
        @Option(name: .long, help: "Revoke every live session of this account instead (a_...).") var account: String?

        func run() async throws {
            let store = try OperatorStore.open(options.resolvedData)
            let now = SystemClock().nowMs()
            if let account {
                guard sessionID == nil else { throw CommandFailure("give a session id or --account, not both") }
                let live = try store.sessionRecords(accountID: account, includeEnded: false, limit: 10_000)
                for record in live { try? store.requestSessionRevocation(id: record.id, nowMs: now) }
                OperatorAudit.record(store, "cli.account.sessions.revoke", subject: account, details: ["sessions": String(live.count)])
                print(options.json ? "{\"revoked\":\(live.count)}" : "revoked \(live.count) session(s) of \(account)")
                return
            }
            guard let sessionID else { throw CommandFailure("give a session id or --account") }
            do {
                try store.requestSessionRevocation(id: sessionID, nowMs: now)
            } catch let error as StoreError {
                throw CommandFailure(error.description)
            }
            OperatorAudit.record(data: options.resolvedData, "cli.session.revoke", subject: SessionRendering.hash(sessionID))
            print(options.json ? "{\"revoked\":true}" : "revoked \(sessionID)")
        }
    }
}
