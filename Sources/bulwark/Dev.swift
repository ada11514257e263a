import ArgumentParser
import BulwarkAuth

struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Developer tools.", subcommands: [TestVectors.self, SessionKeyVectors.self])

    struct SessionKeyVectors: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "session-key-vectors",
            abstract: "Print session-key and sealed-frame test vectors (docs/vectors/session-keys.json is this output).")

        func run() async throws {
            print(try SessionKeyTestVectors.document(), terminator: "")
        }
    }

    struct TestVectors: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "test-vectors",
            abstract: "Print signature-grant test vectors (docs/vectors/signature-grant.json is this output).")

        func run() async throws {
            print(SignatureTestVectors.document([try SignatureTestVectors.ed25519(), try SignatureTestVectors.es256(), try SignatureTestVectors.mlDSA65(), SignatureTestVectors.hmacSHA256()]), terminator: "")
        }
    }
}
