import ArgumentParser
import BulwarkGateway

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Configuration helpers.", subcommands: [Reference.self])

    struct Reference: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print every setting as a Markdown table (docs/operations.md).")
        func run() async throws { print(SettingCatalogue.markdownTable()) }
    }
}
