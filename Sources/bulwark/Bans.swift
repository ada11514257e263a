import ArgumentParser
import BulwarkCore
import BulwarkGateway
import BulwarkStore
import Foundation

struct Bans: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and lift the temporary bans imposed for rate-limit abuse (a running gateway applies a lift within a second).",
        subcommands: [List.self, Lift.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bans in force, soonest to end first.")
        @OptionGroup var options: DataOptions

        func run() async throws {
            let bans = try OperatorStore.open(options.resolvedData).activeBans(nowMs: SystemClock().nowMs())
            if options.json {
                var w = JSONWriter()
                w.beginObject()
                w.key("bans")
                w.beginArray()
                for ban in bans { RateLimitRendering.write(ban, to: &w) }
                w.endArray()
                w.endObject()
                print(w.string)
                return
            }
            guard !bans.isEmpty else { return print("no bans in force") }
            for ban in bans {
                print("\(ban.subject)  until \(Sessions.List.time(ban.untilMs))  level \(ban.level)  \(ban.reason)")
            }
        }
    }

    struct Lift: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a ban now; the subject's escalation starts again from the first level.")
        @OptionGroup var options: DataOptions
        @Argument(help: "What is banned: ip:ADDRESS or key:KEY_ID (as `bans list` shows it).") var subject: String

        func run() async throws {
            guard BanSubject(subject) != nil else { throw CommandFailure("the subject must be ip:ADDRESS or key:KEY_ID, got '\(subject)'") }
            do {
                try OperatorStore.open(options.resolvedData).liftBan(subject: subject, nowMs: SystemClock().nowMs())
            } catch let error as StoreError {
                throw CommandFailure("no ban in force for \(subject) (\(error.description))")
            }
            print(options.json ? "{\"lifted\":true}" : "lifted the ban of \(subject)")
        }
    }
}
