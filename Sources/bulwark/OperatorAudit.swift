import BulwarkCore
import BulwarkStore
import Foundation

/// CLI actions join the same audit chain as the gateway's (SQLite serializes the writers).
enum OperatorAudit {
    static var actor: String { "cli:" + (ProcessInfo.processInfo.environment["USER"] ?? "unknown") }

    static func record(_ store: any Store, _ event: String, subject: String, details: [String: String] = [:]) {
        var all = details
        all["subject"] = subject
        _ = try? store.appendAudit([AuditEntry(timeUs: SystemClock().nowUs(), event: event, actor: actor, outcome: .success, details: all)])
    }

    /// Records `event` in the data folder's audit trail, opening the store just for that (the
    /// one-shot commands that do not otherwise hold it open).
    static func record(data: String, _ event: String, subject: String, details: [String: String] = [:]) {
        guard let store = try? OperatorStore.open(data) else { return }
        record(store, event, subject: subject, details: details)
    }
}
