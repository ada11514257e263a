import ArgumentParser
import BulwarkGateway

@main
struct Bulwark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark",
        abstract: "A secure real-time gateway for a trading venue.",
        discussion: """
            `bulwark serve` with no flags creates ./.bulwark (database, development CA, keys, demo
            market) on the first run and serves wss://127.0.0.1:8443/ws/v1.
            The other commands work on the same data folder, also while `serve` runs.
            """,
        subcommands: [Serve.self, VenueProcess.self, Bench.self, Init.self, Accounts.self, Keys.self, OAuth.self, Sessions.self, Bans.self, MFA.self, Identity.self, Audit.self, KillSwitch.self, IPBlock.self, Admin.self, ConfigCommand.self, Secrets.self, Dev.self])
}

/// Options shared by the commands that work on a data folder.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "Data folder (default ./.bulwark, or BULWARK_DATA).")
    var data: String?

    @Flag(name: .long, help: "Print the result as one JSON object.")
    var json = false

    var resolvedData: String { data ?? Environment.value("BULWARK_DATA") ?? ".bulwark" }
}
