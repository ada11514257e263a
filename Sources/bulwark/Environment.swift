import Foundation

enum Environment {
    static func value(_ name: String) -> String? { ProcessInfo.processInfo.environment[name] }
    static var all: [String: String] { ProcessInfo.processInfo.environment }
}

/// Prints a one-line reason on standard error and exits non-zero (PROTOCOL.md §9).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
