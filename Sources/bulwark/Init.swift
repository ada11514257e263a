import ArgumentParser
import BulwarkCore
import BulwarkGateway

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the data folder as `serve` would, then exit.")

    @OptionGroup var options: DataOptions

    @Flag(name: .long, help: "Do not create the demo account, key and house liquidity.")
    var noDemo = false

    func run() async throws {
        let folder = DataFolder(path: options.resolvedData)
        let (_, _, report) = try folder.prepare(clock: SystemClock(), demo: !noDemo, store: try StoreLocation.fromEnvironment(), nodeID: "cli")
        if options.json {
            var w = JSONWriter()
            w.beginObject()
            w.key("data")
            w.string(folder.path)
            w.key("ca_cert")
            w.string(folder.pki.caCertificatePath)
            if let demo = report.demo {
                w.key("demo_account_id")
                w.string(demo.accountID)
                w.key("demo_key_id")
                w.string(demo.keyID)
                w.key("demo_private_key")
                w.string(demo.privateKeyPath)
            }
            w.endObject()
            print(w.string)
        } else {
            for line in report.created { print("created  \(line)") }
            for line in report.reused { print("reused   \(line)") }
        }
    }
}
