import ArgumentParser
import Foundation
import NIOPosix

/// The load scenarios of `bulwark bench`.
enum Scenario: String, CaseIterable, ExpressibleByArgument {
    case echo, fanout, orders, logins, idle
}

/// `bulwark bench`: a load generator on SwiftNIO for this gateway (and peers speaking the same
/// message shapes). docs/benchmarks.md describes each scenario and how to read the numbers.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load-test a gateway: echo, fan-out, order round trip, login storm or idle connections.",
        discussion: """
            Sends load only to the URL given (loopback in practice). Scenarios that log in (orders,
            logins, the fan-out publisher, idle) create accounts and Ed25519 keys in --data; the
            gateway's default rate limits will refuse a load test, see docs/benchmarks.md for the
            settings the benchmark gateway runs with. Prints a one-line summary; --output writes
            the full result as JSON.
            """)

    @Option(name: .long, help: "Scenario: \(Scenario.allCases.map(\.rawValue).joined(separator: ", ")).")
    var scenario: Scenario

    @Option(name: .long, help: "Server: wss://HOST:PORT or ws://HOST:PORT.")
    var url: String

    @Option(name: .long, help: "CA certificate (PEM) to trust for wss://, e.g. DATA/tls/ca.pem.")
    var ca: String?

    @Option(name: .long, help: "TLS server name (default localhost for loopback addresses).")
    var serverName: String?

    @Option(name: .long, help: "The gateway's data folder, to create the accounts and keys that log in. Without it logins use a stand-in key (peer servers only).")
    var data: String?

    @Option(name: .long, help: "Connections (echo, idle, orders), subscribers (fanout) or concurrent login workers (logins).")
    var connections = 8

    @Option(name: .long, help: "Echo message size in bytes.")
    var messageBytes = 32

    @Option(name: .long, help: "Requests in flight per connection (echo, orders, fanout publisher).")
    var depth = 1

    @Option(name: .long, help: "Target rate per second: orders placed (orders), publications (fanout); 0: as fast as --depth allows.")
    var rate: Double = 0

    @Option(name: .long, help: "Measured seconds (idle: seconds held before measuring memory).")
    var duration: Double = 10

    @Option(name: .long, help: "Seconds of load before measuring starts.")
    var warmup: Double = 1

    @Option(name: .long, help: "Event-loop threads of the load generator.")
    var threads = 1

    @Option(name: .long, help: "Connections opened at once while setting up.")
    var openConcurrency = 64

    @Option(name: .long, help: "Server process id: adds its CPU time per operation and, for idle, its memory per connection (from /proc).")
    var serverPid: Int32?

    @Option(name: .long, help: "Write the result as JSON to this file.")
    var output: String?

    func validate() throws {
        guard connections > 0, depth > 0, threads > 0, openConcurrency > 0 else { throw ValidationError("counts must be positive") }
        guard duration > 0, duration <= 3600, warmup >= 0, warmup <= 600 else { throw ValidationError("--duration must be in (0, 3600] and --warmup in [0, 600]") }
        guard messageBytes >= 1, messageBytes <= 1 << 24, rate >= 0 else { throw ValidationError("--message-bytes must be in [1, 16 MiB] and --rate non-negative") }
    }

    func run() async throws {
        let target = try BenchTarget(url: url, caFile: ca, serverName: serverName)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let context = ScenarioContext(
            factory: try LinkFactory(target: target, group: group),
            load: LoadShape(
                connections: connections, messageBytes: messageBytes, depth: depth, durationSeconds: duration, warmupSeconds: warmup, rate: rate,
                openConcurrency: openConcurrency),
            failures: FailureLog(),
            provisioner: try data.map { try BenchProvisioner(dataFolder: $0) },
            server: serverPid.map { ServerProbe(pid: $0) })
        let result: BenchResult
        switch scenario {
        case .echo: result = await EchoScenario.run(context, target: url)
        case .fanout: result = await FanoutScenario.run(context, target: url)
        case .orders: result = await OrderScenario.run(context, target: url)
        case .logins: result = await LoginStormScenario.run(context, target: url)
        case .idle: result = await IdleScenario.run(context, target: url)
        }
        try await group.shutdownGracefully()
        if let output { try result.json().write(to: URL(fileURLWithPath: output)) }
        print(result.summary)
        if result.operations == 0 {
            throw CommandFailure("nothing was measured: \(result.failureSamples.first ?? "no failure recorded")")
        }
    }
}
