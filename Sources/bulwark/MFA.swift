import ArgumentParser
import BulwarkAuth
import BulwarkCore
import BulwarkGateway
import Foundation

struct MFA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mfa",
        abstract: "TOTP second factors (RFC 6238) for accounts: step-up for risky or large actions.",
        subcommands: [Enroll.self, Status.self, Unlock.self, Remove.self])

    static func service(_ data: String, issuer: String = "Bulwark") throws -> MFAService {
        var policy = MFAService.Policy()
        policy.issuer = issuer
        return MFAService(store: try OperatorStore.open(data), policy: policy) { try MasterKey.box(data: data) }
    }

    struct Enroll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create (or replace) an account's TOTP factor; prints the otpauth:// URI, a QR code and recovery codes once.",
            discussion: """
                The seed is sealed with the master key before it is stored. The factor is pending until
                the first valid code (private/mfa.verify). Recovery codes are stored hashed; each works once.
                """)
        @OptionGroup var options: DataOptions
        @Option(name: .long, help: "Account id (a_...).") var account: String
        @Option(name: .long, help: "HMAC: sha1 (what most authenticator apps support), sha256 or sha512.") var algorithm: String = "sha1"
        @Option(name: .long, help: "Code length, 6 to 8.") var digits: Int = 6
        @Option(name: .long, help: "Issuer shown in authenticator apps.") var issuer: String = "Bulwark"
        @Option(name: .long, help: "Also write the QR code as a PNG file here.") var qr: String?

        func run() async throws {
            guard let name = TOTPAlgorithmName(rawValue: algorithm.lowercased()) else {
                throw CommandFailure("--algorithm must be sha1, sha256 or sha512")
            }
            let enrollment: MFAService.Enrollment
            do {
                enrollment = try MFA.service(options.resolvedData, issuer: issuer).enroll(
                    accountID: account, algorithm: name.totp, digits: digits, nowMs: SystemClock().nowMs())
            } catch let failure as MFAService.Failure {
                throw CommandFailure(failure.description)
            }
            OperatorAudit.record(data: options.resolvedData, "cli.mfa.enroll", subject: account)
            if let qr {
                guard FileManager.default.createFile(atPath: qr, contents: Data(enrollment.qrPNG)) else {
                    throw CommandFailure("cannot write \(qr)")
                }
            }
            if options.json {
                var w = JSONWriter()
                MFARendering.enrollment(enrollment, to: &w)
                print(w.string)
                return
            }
            print("TOTP enrolled for \(account) (pending until the first valid code)")
            print("  otpauth URI: \(enrollment.otpauthURI)")
            print("  secret:      \(enrollment.secretBase32)")
            if let qr { print("  QR code PNG: \(qr)") }
            print("")
            print(enrollment.qrText)
            print("Recovery codes (each works once; store them offline, they are not shown again):")
            for code in enrollment.recoveryCodes { print("  \(code)") }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Whether an account has a TOTP factor, and its state.")
        @OptionGroup var options: DataOptions
        @Option(name: .long, help: "Account id (a_...).") var account: String

        func run() async throws {
            let status = try MFA.service(options.resolvedData).status(accountID: account)
            var w = JSONWriter()
            MFARendering.status(status, to: &w)
            print(w.string)
        }
    }

    struct Unlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a lockout after repeated wrong codes.")
        @OptionGroup var options: DataOptions
        @Option(name: .long, help: "Account id (a_...).") var account: String

        func run() async throws {
            do {
                try MFA.service(options.resolvedData).unlock(accountID: account)
            } catch let failure as MFAService.Failure {
                throw CommandFailure(failure.description)
            }
            OperatorAudit.record(data: options.resolvedData, "cli.mfa.unlock", subject: account)
            print(options.json ? "{\"unlocked\":true}" : "unlocked the TOTP factor of \(account)")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an account's TOTP factor and its recovery codes.")
        @OptionGroup var options: DataOptions
        @Option(name: .long, help: "Account id (a_...).") var account: String

        func run() async throws {
            do {
                try MFA.service(options.resolvedData).remove(accountID: account)
            } catch let failure as MFAService.Failure {
                throw CommandFailure(failure.description)
            }
            OperatorAudit.record(data: options.resolvedData, "cli.mfa.remove", subject: account)
            print(options.json ? "{\"removed\":true}" : "removed the TOTP factor of \(account)")
        }
    }
}
