import ArgumentParser
import BulwarkAuth
import BulwarkCore
import BulwarkGateway
import Foundation

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage API keys (clients generate key pairs; only public keys are registered).",
        subcommands: [Create.self, Rotate.self, Revoke.self, Unlock.self, List.self, Show.self])

    struct Unlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Unlock a key locked after repeated failed logins.")
        @OptionGroup var options: DataOptions
        @Argument(help: "Key id (k_...).") var keyID: String
        func run() async throws {
            try OperatorStore.open(options.resolvedData).unlockKey(id: keyID, nowMs: SystemClock().nowMs())
            OperatorAudit.record(data: options.resolvedData, "cli.key.unlock", subject: keyID)
            print(options.json ? "{\"unlocked\":true}" : "unlocked \(keyID)")
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a client-generated public key.")

        @OptionGroup var options: DataOptions

        @Option(name: .long, help: "Account id (a_...).")
        var account: String

        @Option(name: .long, help: "Key type: ed25519, es256, ml-dsa-65, or hmac-sha256 (legacy: the gateway generates the secret and prints it once).")
        var type: String = "ed25519"

        // Unconditional: base64url may start with '-', which must not be read as a flag.
        @Option(name: .long, parsing: .unconditional, help: "Raw public key, base64url: Ed25519 32 bytes, P-256 65-byte uncompressed point, ML-DSA-65 1952 bytes. Not for hmac-sha256.")
        var publicKey: String?

        @Option(name: .long, help: "Scopes: read,trade,cancel,account.")
        var scopes: String

        @Option(name: .long, help: "A label for operators.")
        var label: String = ""

        @Option(name: .long, help: "Expire the key after this many days.")
        var expiresInDays: Int?

        @Option(name: .long, help: "Pin the key to a client certificate: its SHA-256 (64 hex digits). The key then works only over mTLS with that certificate.")
        var clientCertSha256: String?

        @Option(name: .long, help: "Pin the key to the client certificate in this PEM file (computes its SHA-256).")
        var clientCert: String?

        @Option(name: .long, help: "Addresses the key may log in from: CIDRs or addresses, comma-separated (IPv4 and IPv6).")
        var ipAllow: String?

        @Option(name: .long, help: "Instruments the key may trade, comma-separated (default: all).")
        var instruments: String?

        @Option(name: .long, help: "Largest notional of one order placed with this key (decimal).")
        var maxNotional: String?

        @Option(name: .long, help: "Sealed-frame policy for private methods: none, mac or aead.")
        var sealed: String = "none"

        func run() async throws {
            var request = KeyManagement.Request(accountID: account, scopes: scopes)
            request.type = type
            request.publicKey = publicKey
            request.label = label
            request.expiresInDays = expiresInDays
            request.clientCertificateSHA256 = try ClientCertificatePin.resolve(sha256: clientCertSha256, pemFile: clientCert)
            request.ipAllowlist = ipAllow.map { $0.split(separator: ",").map(String.init) } ?? []
            request.instruments = instruments.map { $0.split(separator: ",").map(String.init) }
            request.maxOrderNotional = maxNotional
            request.sealedPolicy = sealed
            let created: KeyManagement.Created
            do {
                created = try KeyOperations.management(options.resolvedData).create(request, nowMs: SystemClock().nowMs())
            } catch let failure as KeyManagement.Failure {
                throw CommandFailure(failure.description)
            }
            OperatorAudit.record(data: options.resolvedData, "cli.key.create", subject: created.key.id, details: ["account": account, "scopes": scopes])
            KeyOperations.printCreated(created, json: options.json)
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace a key with a new one (same account, scopes, limits); the old key keeps working for the overlap.")

        @OptionGroup var options: DataOptions

        @Argument(help: "The key to replace (k_...).")
        var keyID: String

        @Option(name: .long, parsing: .unconditional, help: "The new raw public key, base64url (not for hmac-sha256, whose new secret is generated).")
        var publicKey: String?

        @Option(name: .long, help: "Minutes the old key keeps working (0 to 10080).")
        var overlapMinutes: Int = 60

        func run() async throws {
            do {
                let (created, oldExpiresMs) = try KeyOperations.management(options.resolvedData).rotate(
                    keyID: keyID, newPublicKey: publicKey, overlapMinutes: overlapMinutes, nowMs: SystemClock().nowMs())
                OperatorAudit.record(data: options.resolvedData, "cli.key.rotate", subject: keyID, details: ["new_key": created.key.id])
                if options.json {
                    var w = JSONWriter()
                    w.beginObject()
                    w.key("key_id")
                    w.string(created.key.id)
                    w.key("replaces")
                    w.string(keyID)
                    w.key("old_key_expires_ms")
                    w.int(oldExpiresMs)
                    if let secret = created.secret {
                        w.key("secret")
                        w.string(secret)
                    }
                    w.endObject()
                    print(w.string)
                } else {
                    print("created \(created.key.id) replacing \(keyID); \(keyID) stops working at \(oldExpiresMs) ms")
                    if let secret = created.secret { print("secret (shown once, store it now): \(secret)") }
                }
            } catch let failure as KeyManagement.Failure {
                throw CommandFailure(failure.description)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key; its live sessions end within a second.")

        @OptionGroup var options: DataOptions

        @Argument(help: "Key id (k_...).")
        var keyID: String

        func run() async throws {
            let store = try OperatorStore.open(options.resolvedData)
            try store.revokeKey(id: keyID, nowMs: SystemClock().nowMs())
            OperatorAudit.record(data: options.resolvedData, "cli.key.revoke", subject: keyID)
            print(options.json ? "{\"revoked\":true}" : "revoked \(keyID)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys.")

        @OptionGroup var options: DataOptions

        @Option(name: .long, help: "Only this account's keys.")
        var account: String?

        func run() async throws {
            let store = try OperatorStore.open(options.resolvedData)
            let keys = try store.keys(accountID: account)
            if options.json {
                var w = JSONWriter()
                w.beginObject()
                w.key("keys")
                w.beginArray()
                for key in keys { KeyRendering.write(key, to: &w) }
                w.endArray()
                w.endObject()
                print(w.string)
            } else {
                for key in keys {
                    print("\(key.id)  \(key.status.rawValue)  \(key.algorithm.rawValue)  \(key.accountID)  \(Scope.render(key.scopes))  \(key.label)")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one key.")

        @OptionGroup var options: DataOptions

        @Argument(help: "Key id (k_...).")
        var keyID: String

        func run() async throws {
            let store = try OperatorStore.open(options.resolvedData)
            guard let key = try store.apiKey(id: keyID) else { throw CommandFailure("no key \(keyID)") }
            var w = JSONWriter()
            KeyRendering.write(key, to: &w)
            print(w.string)
        }
    }
}

enum ClientCertificatePin {
    /// Lowercase hex SHA-256 from `--client-cert-sha256` or from the certificate in `--client-cert`.
    static func resolve(sha256: String?, pemFile: String?) throws -> String? {
        switch (sha256, pemFile) {
        case (nil, nil):
            return nil
        case (let hex?, nil):
            return hex
        case (nil, let path?):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8), let certificate = try? DevelopmentPKI.leafCertificate(chainPEM: text) else {
                throw CommandFailure("--client-cert: \(path) holds no PEM certificate")
            }
            return ClientCertificateVerifier.fingerprint(certificate)
        default:
            throw CommandFailure("give --client-cert-sha256 or --client-cert, not both")
        }
    }
}

/// Shared plumbing of the key commands.
enum KeyOperations {
    static func management(_ data: String) throws -> KeyManagement {
        let store = try OperatorStore.open(data)
        return KeyManagement(store: store, secretBox: { try MasterKey.box(data: data) })
    }

    static func printCreated(_ created: KeyManagement.Created, json: Bool) {
        let key = created.key
        if json {
            var w = JSONWriter()
            w.beginObject()
            w.key("key_id")
            w.string(key.id)
            if let secret = created.secret {
                w.key("secret")
                w.string(secret)
            }
            w.endObject()
            print(w.string)
        } else {
            print("created key \(key.id) (\(key.algorithm.rawValue), scopes \(Scope.render(key.scopes))) for \(key.accountID)")
            if let secret = created.secret {
                print("secret (shown once, store it now): \(secret)")
                print("HMAC logins need auth.hmac_enabled=true on the gateway")
            }
        }
    }
}
