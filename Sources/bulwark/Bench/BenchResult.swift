import Foundation

/// One run's numbers, written as the JSON result file (snake_case keys).
struct BenchResult: Codable, Sendable {
    var scenario: String
    var target: String
    var tls: Bool
    var connections: Int
    var messageBytes: Int?
    var depth: Int?
    var targetRate: Double?
    var durationS: Double
    var warmupS: Double
    /// What `operations` counts: messages, deliveries, orders, logins or connections.
    var unit: String
    var operations: UInt64
    var operationsPerS: Double
    var latency: LatencySummary?
    /// Further latencies by name (order place and cancel, each on its own).
    var latencies: [String: LatencySummary]?
    var publications: UInt64?
    var subscribers: Int?
    /// Idle: connections open when memory was measured (logged in or not).
    var openConnections: Int?
    var serverRssBytesBefore: Int?
    var serverRssBytesAfter: Int?
    var bytesPerConnection: Int?
    var serverCpuSeconds: Double?
    var serverCpuUsPerOperation: Double?
    var failures: Int
    var failureSamples: [String]
    var finishedAt: String

    init(scenario: Scenario, context: ScenarioContext, target: String, unit: String) {
        self.scenario = scenario.rawValue
        self.target = target
        tls = context.factory.target.usesTLS
        connections = context.load.connections
        durationS = context.load.durationSeconds
        warmupS = context.load.warmupSeconds
        self.unit = unit
        operations = 0
        operationsPerS = 0
        failures = 0
        failureSamples = []
        finishedAt = ""
    }

    /// Sets the count and its rate over the measured window.
    mutating func measured(_ count: UInt64, over window: MeasurementWindow) {
        operations = count
        operationsPerS = (Double(count) / window.seconds).rounded()
    }

    /// Server CPU spent during the run, in total and per operation.
    mutating func serverCPU(from before: ServerProbe.Sample?, to after: ServerProbe.Sample?) {
        guard let before, let after else { return }
        serverCpuSeconds = ((after.cpuSeconds - before.cpuSeconds) * 100).rounded() / 100
        if operations > 0, let total = serverCpuSeconds { serverCpuUsPerOperation = (total * 1e6 / Double(operations) * 10).rounded() / 10 }
    }

    mutating func finish(_ context: ScenarioContext) {
        failures = context.failures.count
        failureSamples = context.failures.samples
        finishedAt = ISO8601DateFormatter().string(from: Date())
    }

    func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// The one-line summary printed at the end of a run.
    var summary: String {
        var parts = ["\(scenario) \(tls ? "wss" : "ws") \(connections) conn"]
        if let messageBytes { parts.append("\(messageBytes) B") }
        if let depth { parts.append("depth \(depth)") }
        if let targetRate, targetRate > 0 { parts.append("target \(Int(targetRate))/s") }
        parts.append("\(Int(operationsPerS)) \(unit)/s")
        if let latency { parts.append(latency.compact) }
        if let bytesPerConnection { parts.append("\(bytesPerConnection) B/connection") }
        if let serverCpuUsPerOperation { parts.append("server \(serverCpuUsPerOperation) µs CPU/op") }
        if failures > 0 { parts.append("\(failures) failures") }
        return parts.joined(separator: ", ")
    }
}
