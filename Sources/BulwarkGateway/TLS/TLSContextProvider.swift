import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOSSL

/// The public listener's current TLS context. Each new connection takes the context current at
/// accept time, so a reload changes what new connections see and leaves established ones alone.
///
/// A reload loads and checks the files first (`CertificateBundle`) and swaps only on success: a
/// bad file keeps the old certificate and raises an alert, never an outage.
public final class TLSContextProvider: Sendable {
    public struct Source: Sendable {
        public let certificatePath: String
        public let keyPath: String
        public let minimumVersion: GatewayConfiguration.TLSMinimumVersion
        public var clientAuth: ClientAuthMode = .none
        public var clientCAPath: String?
        public var crlPaths: [String] = []

        var allPaths: [String] { [certificatePath, keyPath] + (clientCAPath.map { [$0] } ?? []) + crlPaths }
    }

    /// What a new connection needs from the current TLS state.
    struct Snapshot: Sendable {
        let context: NIOSSLContext
        let clientVerifier: ClientCertificateVerifier?
    }

    public enum ReloadOutcome: Sendable, Equatable {
        case unchanged
        case swapped(fingerprint: String)
        case rejected(reason: String)
    }

    private struct Current {
        var snapshot: Snapshot
        var bundle: CertificateBundle
        var fileStamp: SourceStamp
    }

    let source: Source
    private let current: NIOLockedValueBox<Current>
    private let logger: Logger
    private let metrics: GatewayMetrics

    init(source: Source, logger: Logger, metrics: GatewayMetrics) throws {
        self.source = source
        self.logger = logger
        self.metrics = metrics
        let (bundle, snapshot) = try Self.load(source)
        current = NIOLockedValueBox(Current(snapshot: snapshot, bundle: bundle, fileStamp: SourceStamp.of(source)))
    }

    var snapshot: Snapshot { current.withLockedValue { $0.snapshot } }
    var context: NIOSSLContext { snapshot.context }
    public var bundle: CertificateBundle { current.withLockedValue { $0.bundle } }

    private static func load(_ source: Source) throws -> (CertificateBundle, Snapshot) {
        let chain = try SecretFile.read(source.certificatePath)
        let key = try SecretFile.read(source.keyPath)
        let bundle = try CertificateBundle(chainPEM: chain, keyPEM: key)
        var verifier: ClientCertificateVerifier?
        var clientCAs: String?
        if source.clientAuth != .none, let caPath = source.clientCAPath {
            let caPEM = try SecretFile.read(caPath)
            let crls = try source.crlPaths.map { path -> [UInt8] in
                guard let data = FileManager.default.contents(atPath: path) else { throw BootstrapError("cannot read CRL \(path)") }
                return Array(data)
            }
            verifier = try ClientCertificateVerifier(caBundlePEM: caPEM, crlFiles: crls)
            clientCAs = caPEM
        }
        let context = try TLSSetup.serverContext(
            certificateChainPEM: chain, privateKeyPEM: key, minimumVersion: source.minimumVersion, clientAuth: source.clientAuth,
            clientCAsPEM: clientCAs)
        return (bundle, Snapshot(context: context, clientVerifier: verifier))
    }

    /// Reloads when forced (SIGHUP) or when the files changed since the last load.
    @discardableResult
    public func reload(force: Bool) -> ReloadOutcome {
        let stamp = SourceStamp.of(source)
        if !force, stamp == current.withLockedValue({ $0.fileStamp }) { return .unchanged }
        do {
            let (bundle, snapshot) = try Self.load(source)
            let previous = current.withLockedValue { current -> String in
                let old = current.bundle.fingerprint
                current = Current(snapshot: snapshot, bundle: bundle, fileStamp: stamp)
                return old
            }
            metrics.certificateReloads.add(1, ordering: .relaxed)
            logger.notice(
                "TLS certificate reloaded",
                metadata: ["old_sha256": "\(previous)", "new_sha256": "\(bundle.fingerprint)", "not_after": "\(bundle.notValidAfter)"])
            return .swapped(fingerprint: bundle.fingerprint)
        } catch {
            // Remember the stamp so a broken file is reported once, not every poll.
            current.withLockedValue { $0.fileStamp = stamp }
            metrics.certificateReloadFailures.add(1, ordering: .relaxed)
            logger.critical(
                "ALERT: TLS certificate reload rejected, keeping the current certificate",
                metadata: ["reason": "\(error)", "current_sha256": "\(bundle.fingerprint)"])
            return .rejected(reason: "\(error)")
        }
    }

    public enum ExpiryLevel: String, Sendable, Equatable {
        case ok
        case warning
        case alert
    }

    /// Warn at 30 days, alert at 7 (logged), and report which applies.
    @discardableResult
    public func checkExpiry(now: Date = Date()) -> ExpiryLevel {
        let days = bundle.daysLeft(now: now)
        let level = Self.expiryLevel(daysLeft: days)
        metrics.certificateDaysLeft.store(days, ordering: .relaxed)
        switch level {
        case .ok: break
        case .warning: logger.warning("TLS certificate expires soon", metadata: ["days_left": "\(days)", "sha256": "\(bundle.fingerprint)"])
        case .alert: logger.critical("ALERT: TLS certificate about to expire", metadata: ["days_left": "\(days)", "sha256": "\(bundle.fingerprint)"])
        }
        return level
    }

    static func expiryLevel(daysLeft: Int) -> ExpiryLevel {
        daysLeft < 7 ? .alert : daysLeft < 30 ? .warning : .ok
    }
}

/// What identifies a file's content cheaply: size, modification time and inode (a rename-into-place
/// changes the inode even within the same second).
struct FileStamp: Equatable, Sendable {
    let size: Int64
    let modified: Int64
    let inode: UInt64

    static func of(_ path: String) -> FileStamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileStamp(
            size: Int64(info.st_size), modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
            inode: UInt64(info.st_ino))
    }
}

/// The stamps of every file of a certificate source (chain, key, client CAs, CRLs): a change to any
/// of them reloads, so a new CRL takes effect without a restart.
struct SourceStamp: Equatable, Sendable {
    let files: [FileStamp?]

    static func of(_ source: TLSContextProvider.Source) -> SourceStamp {
        SourceStamp(files: source.allPaths.map(FileStamp.of))
    }
}
