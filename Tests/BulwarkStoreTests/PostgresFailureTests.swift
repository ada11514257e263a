import BulwarkPostgres
import BulwarkStore
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What needs no PostgreSQL server: URL parsing and failing closed when nothing answers.
@Suite struct PostgresFailureTests {
    @Test func urlsParseWithTheirTLSModes() throws {
        let plain = try PostgresURL("postgres://bulwark:s%40cret@db.internal:6432/bulwark")
        #expect(plain.user == "bulwark" && plain.password == "s@cret" && plain.host == "db.internal" && plain.port == 6432)
        #expect(plain.database == "bulwark" && plain.sslMode == .disable && plain.sslRootCert == nil)
        #expect(!plain.redacted.contains("cret"))
        let defaults = try PostgresURL("postgresql://db")
        #expect(defaults.user == "postgres" && defaults.port == 5432 && defaults.database == "postgres")
        let full = try PostgresURL("postgres://u@db/x?sslmode=verify-full&sslrootcert=/etc/bulwark/ca.pem")
        #expect(full.sslMode == .verifyFull && full.sslRootCert == "/etc/bulwark/ca.pem")
        #expect(try PostgresURL("postgres://u@db/x?sslmode=require").sslMode == .require)
        #expect(try PostgresURL(full.urlString) == full)
        #expect(try PostgresURL(plain.urlString) == plain)
        for bad in [
            "mysql://u@db/x", "postgres:///x", "postgres://u@db/x?sslmode=maybe", "postgres://u@db/x?sslrootcert=/ca.pem",
            "postgres://u@db/x?application=1",
        ] {
            #expect(throws: StoreError.self, "\(bad)") { _ = try PostgresURL(bad) }
        }
        // A password never shows in the error about a malformed URL.
        do {
            _ = try PostgresURL("mysql://u:hunter2@db/x")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }

    @Test func verifyFullWithAMissingCAFileIsRefusedUpFront() {
        #expect(throws: StoreError.self) {
            _ = try PostgresStore(url: "postgres://u@127.0.0.1:1/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem", nodeID: "n")
        }
    }

    @Test func aRefusedConnectionIsUnavailableAtOnce() {
        let started = Date()
        #expect {
            _ = try PostgresStore(url: "postgres://postgres@127.0.0.1:1/none", nodeID: "n", timeout: .seconds(2))
        } throws: { error in
            guard case StoreError.unavailable(let text) = error else { return false }
            return text.contains("127.0.0.1:1")
        }
        #expect(Date().timeIntervalSince(started) < 2)
    }

    /// A server that accepts TCP connections and never says a word (a hung or black-holed
    /// database): the call ends at its deadline with `.unavailable`, it does not hang.
    @Test func aServerThatNeverAnswersTimesOutWithUnavailable() throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let started = Date()
        #expect {
            _ = try PostgresStore(url: "postgres://postgres@127.0.0.1:\(listener.port)/none", nodeID: "n", timeout: .milliseconds(700))
        } throws: { error in
            guard case StoreError.unavailable = error else { return false }
            return true
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed >= 0.6 && elapsed < 3, "took \(elapsed) s")
    }
}

/// A loopback TCP socket in LISTEN state that never accepts: the kernel completes handshakes
/// into the backlog, and nothing is ever read or written.
final class SilentListener: @unchecked Sendable {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StoreError.invalid("socket failed") }
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw StoreError.invalid("bind/listen failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(fd) }
}
