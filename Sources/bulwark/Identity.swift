import ArgumentParser
import BulwarkGateway

/// Prints the gateway identity's public key: clients pin it to check the signature over the
/// session-key exchange (PROTOCOL.md §5), so whoever terminates TLS cannot substitute its own keys.
struct Identity: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the gateway identity's Ed25519 public key (clients pin it to verify session-key exchanges).")
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
