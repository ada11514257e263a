import ArgumentParser
import BulwarkCore
import BulwarkGateway
import BulwarkStore
import Crypto
import Foundation

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The hash-chained audit log: verify it offline, export it for a SIEM, search it.",
        subcommands: [Verify.self, Export.self, Search.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every record's hash, every link, the sequence and every signed checkpoint; name the first bad record.",
            discussion: "Exit status 0 when the chain is intact, 1 when it is not. Checkpoints are checked against the gateway identity and any retired identity in DATA/keys.")
        @OptionGroup var options: DataOptions
        @Flag(name: .long, help: "Report progress on standard error even when it is not a terminal.") var progress = false

        func run() async throws {
            let folder = DataFolder(path: options.resolvedData)
            let store = try OperatorStore.open(options.resolvedData)
            let identities = try IdentityKey.allPublicKeys(folder: folder)
            let total = Int(try store.auditTail().seq)
            var reporter = ProgressReporter(label: "records checked", forced: progress)
            let summary: AuditChainVerifier.Summary
            do {
                summary = try AuditVerification.run(store: store, identities: identities) { reporter.update($0, of: total) }
            } catch {
                throw CommandFailure("cannot read the audit trail: \(error)")
            }
            reporter.finish(summary.records, of: total)
            if options.json {
                print(AuditVerification.json(summary))
            } else if let problem = summary.problem {
                print("audit chain BROKEN after \(summary.records) good record(s): \(problem.description)")
            } else {
                print("audit chain intact: \(summary.records) record(s), \(summary.checkpoints) signed checkpoint(s), last hash \(summary.lastHash)")
            }
            if summary.problem != nil { throw ExitCode(1) }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the records as JSON lines (one object per line) for a SIEM.")
        @OptionGroup var options: DataOptions
        @Option(name: .long, help: "Only records after this sequence number.") var after: Int64 = 0
        @Option(name: .long, help: "Write to this file instead of standard output.") var out: String?
        @Flag(name: .long, help: "Report progress on standard error even when it is not a terminal.") var progress = false

        func run() async throws {
            let store = try OperatorStore.open(options.resolvedData)
            let total = max(0, Int(try store.auditTail().seq - after))
            var reporter = ProgressReporter(label: "records exported", forced: progress, automatic: out != nil)
            var handle = FileHandle.standardOutput
            if let out {
                guard FileManager.default.createFile(atPath: out, contents: nil), let file = FileHandle(forWritingAtPath: out) else {
                    throw CommandFailure("cannot write \(out)")
                }
                handle = file
            }
            var cursor = after
            var count = 0
            while true {
                let page = try store.auditRecords(afterSeq: cursor, limit: 2000)
                guard let last = page.last else { break }
                handle.write(Data(page.map { $0.exportJSON + "\n" }.joined().utf8))
                count += page.count
                cursor = last.seq
                reporter.update(count, of: total)
            }
            reporter.finish(count, of: total)
            if out != nil { FileHandle.standardError.write(Data("exported \(count) record(s)\n".utf8)) }
        }
    }

    struct Search: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recent records, newest first, filtered by event (`*` wildcards) or actor.")
        @OptionGroup var options: DataOptions
        @Option(name: .long, help: "Event name, e.g. auth.login or security.* .") var event: String?
        @Option(name: .long, help: "Actor: an account id, operator:<fingerprint>, cli:<user> or system.") var actor: String?
        @Option(name: .long, help: "At most this many records.") var limit: Int = 50

        func run() async throws {
            let records = try OperatorStore.open(options.resolvedData).searchAudit(event: event, actor: actor, sinceUs: nil, limit: max(1, min(limit, 10_000)))
            for record in records { print(record.exportJSON) }
        }
    }
}
