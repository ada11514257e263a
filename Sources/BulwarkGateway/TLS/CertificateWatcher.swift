import UnixSignals

/// Reloads the listener's certificate when its files change (polled every 2 s) or on SIGHUP, and
/// checks its expiry once a day.
struct CertificateWatcher {
    let tls: TLSContextProvider
    static let pollInterval = Duration.seconds(2)

    func pollFiles() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.pollInterval)
            tls.reload(force: false)
        }
    }

    func reloadOnSIGHUP() async {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals {
            tls.reload(force: true)
        }
    }

    func checkExpiryDaily() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(86_400))
            tls.checkExpiry()
        }
    }
}
