import Foundation

/// Progress of a long operator command, on standard error: shown when standard error is a terminal
/// (rewriting one line) or with `--progress` (one line per update, for logs and CI), and never on
/// standard output, which stays parseable with `--json`.
struct ProgressReporter {
    let label: String
    let enabled: Bool
    private let terminal: Bool
    private var lastShown: ContinuousClock.Instant?
    /// At most this often, so a fast loop does not spend its time printing.
    static let minimumGap = Duration.milliseconds(250)

    /// `automatic`: shown on a terminal without being asked (false when the command's own output
    /// goes to the same terminal, where a rewritten status line would garble it).
    init(label: String, forced: Bool, automatic: Bool = true) {
        self.label = label
        terminal = isatty(STDERR_FILENO) == 1
        enabled = forced || (automatic && terminal)
    }

    mutating func update(_ done: Int, of total: Int?) {
        guard enabled else { return }
        let now = ContinuousClock.now
        if let lastShown, now - lastShown < Self.minimumGap { return }
        lastShown = now
        write(Self.line(label: label, done: done, total: total), final: false)
    }

    func finish(_ done: Int, of total: Int?) {
        guard enabled else { return }
        write(Self.line(label: label, done: done, total: total) + " done", final: true)
    }

    static func line(label: String, done: Int, total: Int?) -> String {
        guard let total, total > 0 else { return "\(label): \(done)" }
        let percent = min(100, done * 100 / total)
        return "\(label): \(done)/\(total) (\(percent) %)"
    }

    private func write(_ text: String, final: Bool) {
        let output = terminal ? "\r\u{1B}[2K" + text + (final ? "\n" : "") : text + "\n"
        FileHandle.standardError.write(Data(output.utf8))
    }
}
