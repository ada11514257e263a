import ArgumentParser
import BulwarkCore
import BulwarkGateway

/// Prints the gateway identity's public key: clients pin it to check the signature over the
/// session-key exchange (PROTOCOL.md §5), so whoever terminates TLS cannot substitute its own keys.
struct Identity: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the gateway identity's Ed25519 public key (clients pin it to verify session-key exchanges).",
        subcommands: [IdentityShow.self, Rotate.self], defaultSubcommand: IdentityShow.self)

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Emergency rotation: a new identity key; the old one is kept as retired for audit verification. Restart the gateway after.")
        @OptionGroup var options: DataOptions

        func run() async throws {
            let folder = DataFolder(path: options.resolvedData)
            let (retired, key) = try IdentityKey.rotate(folder: folder, nowMs: SystemClock().nowMs())
            OperatorAudit.record(try OperatorStore.open(options.resolvedData), "cli.identity.rotate", subject: key.publicKeyB64u, details: ["retired_file": retired])
            print(options.json ? "{\"ed25519\":\"\(key.publicKeyB64u)\",\"retired\":\"\(retired)\"}" : "new identity \(key.publicKeyB64u); retired key kept at \(retired); restart the gateway and give clients the new key")
        }
    }
}

struct IdentityShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the current identity public key.")
    @OptionGroup var options: DataOptions

    func run() async throws {
        let folder = DataFolder(path: options.resolvedData)
        let key: IdentityKey
        do {
            key = try IdentityKey.load(path: folder.identityKeyPath)
        } catch {
            throw CommandFailure("no identity key in \(options.resolvedData): run `bulwark init` or `bulwark serve` first")
        }
        print(options.json ? "{\"ed25519\":\"\(key.publicKeyB64u)\"}" : key.publicKeyB64u)
    }
}
