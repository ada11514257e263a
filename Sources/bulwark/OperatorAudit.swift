import BulwarkCore
import BulwarkStore
import Foundation

/// CLI actions join the same audit chain as the gateway's (SQLite serializes the writers).
enum OperatorAudit {
    static var actor: String { "cli:" + (ProcessInfo.processInfo.environment["USER"] ?? "unknown") }

    static func record(_ store: SQLiteStore, _ event: String, subject: String, details: [String: String] = [:]) {
        var all = details
        all["subject"] = subject
        _ = try? store.appendAudit([AuditEntry(timeUs: SystemClock().nowUs(), event: event, actor: actor, outcome: .success, details: all)])
    }
}
