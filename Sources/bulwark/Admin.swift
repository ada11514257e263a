import ArgumentParser
import BulwarkCore
import BulwarkGateway
import Foundation

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Credentials of the admin API (besides the operators' client certificates).",
        subcommands: [Token.self, TOTPEnroll.self])

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the admin token (sent as `Authorization: Bearer …`); --rotate replaces it (restart the gateway).")
        @OptionGroup var options: DataOptions
        @Flag(name: .long, help: "Replace the token.") var rotate = false

        func run() async throws {
            let folder = DataFolder(path: options.resolvedData)
            let token = rotate ? try AdminToken.rotate(folder: folder) : try AdminToken.loadOrCreate(folder: folder)
            if rotate, let store = try? OperatorStore.open(options.resolvedData) { OperatorAudit.record(store, "cli.admin.token.rotate", subject: "admin.token") }
            print(options.json ? "{\"token\":\"\(token)\"}" : token)
        }
    }

    struct TOTPEnroll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "totp-enroll",
            abstract: "Create (or replace) the operators' TOTP factor: destructive admin actions need a code from it (X-Bulwark-TOTP).")
        @OptionGroup var options: DataOptions
        @Option(name: .long, help: "Also write the QR code as a PNG file here.") var qr: String?

        func run() async throws {
            let store = try OperatorStore.open(options.resolvedData)
            let (uri, secret, png) = try OperatorTOTP.enroll(store: store, box: MasterKey.box(data: options.resolvedData))
            if let qr { guard FileManager.default.createFile(atPath: qr, contents: Data(png)) else { throw CommandFailure("cannot write \(qr)") } }
            OperatorAudit.record(store, "cli.admin.totp.enroll", subject: "operators")
            print(options.json ? "{\"otpauth_uri\":\"\(uri)\",\"secret\":\"\(secret)\"}" : "operators' TOTP: \(uri)\nsecret: \(secret)")
        }
    }
}
