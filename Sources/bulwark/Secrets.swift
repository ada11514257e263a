import ArgumentParser
import BulwarkAuth
import BulwarkCore
import BulwarkGateway
import Foundation

/// The master key that seals secrets at rest, as the CLI finds it: `BULWARK_SECRETS_MASTER_KEY_FILE`,
/// else DATA/keys/master.key.
enum MasterKey {
    static func path(data: String) -> String {
        Environment.value("BULWARK_SECRETS_MASTER_KEY_FILE") ?? DataFolder(path: data).masterKeyPath
    }

    static func box(data: String) throws -> SecretBox {
        try SecretBox(masterKey: SecretBox.loadKey(file: path(data: data)))
    }
}

struct Secrets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Secrets at rest.", subcommands: [RotateMasterKey.self])

    struct RotateMasterKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-master-key",
            abstract: "Generate a new master key and re-seal every stored secret with it, in one transaction.",
            discussion: """
                The old key is kept as master.key.old (0600) until you delete it. Running gateways read the
                master key when they need it, so no restart is needed.
                """)

        @OptionGroup var options: DataOptions

        func run() async throws {
            let path = MasterKey.path(data: options.resolvedData)
            let old = try MasterKey.box(data: options.resolvedData)
            let newKey = SecureRandom.bytes(count: 32)
            let new = try SecretBox(masterKey: newKey)
            let store = try OperatorStore.open(options.resolvedData)
            // Re-seal first (all or nothing), then swap the files: a crash in between leaves the old
            // key file with old-sealed rows, or the new rows with master.key.new beside them.
            try? FileManager.default.removeItem(atPath: path + ".new")
            try writePrivate(Base64URL.encode(newKey) + "\n", to: path + ".new")
            let count = try store.resealSecrets { keyID, sealed in try new.seal(old.open(sealed, boundTo: keyID), boundTo: keyID) }
            try? FileManager.default.removeItem(atPath: path + ".old")
            guard rename(path, path + ".old") == 0, rename(path + ".new", path) == 0 else {
                throw CommandFailure("re-sealed \(count) secrets but could not move \(path).new into place: do it by hand")
            }
            OperatorAudit.record(store, "cli.secrets.rotate_master_key", subject: new.keyID, details: ["resealed": String(count)])
            print(options.json ? "{\"resealed\":\(count),\"key_id\":\"\(new.keyID)\"}" : "re-sealed \(count) secret(s) under master key \(new.keyID)")
        }

        private func writePrivate(_ text: String, to path: String) throws {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard fd >= 0 else { throw CommandFailure("cannot create \(path)") }
            defer { close(fd) }
            let bytes = Array(text.utf8)
            guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count, fsync(fd) == 0 else {
                throw CommandFailure("cannot write \(path)")
            }
        }
    }
}
