import ArgumentParser
import BulwarkAuth
import BulwarkCore
import BulwarkGateway
import Foundation

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage API keys (clients generate key pairs; only public keys are registered).",
        subcommands: [Create.self, Revoke.self, Unlock.self, List.self, Show.self])

    struct Unlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Unlock a key locked after repeated failed logins.")
        @OptionGroup var options: DataOptions
        @Argument(help: "Key id (k_...).") var keyID: String
        func run() async throws {
            try OperatorStore.open(options.resolvedData).unlockKey(id: keyID, nowMs: SystemClock().nowMs())
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

        func run() async throws {
            guard let algorithm = KeyAlgorithm(rawValue: type) else {
                throw CommandFailure("--type must be ed25519, es256, ml-dsa-65 or hmac-sha256")
            }
            var bytes: [UInt8] = []
            var hmacSecret: [UInt8]?
            if algorithm == .hmacSHA256 {
                guard publicKey == nil else { throw CommandFailure("hmac-sha256 keys have no public key: the gateway generates the secret") }
                hmacSecret = SecureRandom.bytes(count: KeyAlgorithm.hmacSecretLength)
            } else {
                guard let publicKey, let decoded = Base64URL.decode(publicKey) else {
                    throw CommandFailure("--public-key is required, as base64url (no padding)")
                }
                guard SignatureVerifier.isWellFormedPublicKey(decoded, algorithm: algorithm) else {
                    throw CommandFailure("--public-key is not a valid \(algorithm.rawValue) public key (\(algorithm.publicKeyLength ?? 0) bytes expected, got \(decoded.count))")
                }
                bytes = decoded
            }
            guard let scopeSet = Scope.parseList(scopes), !scopeSet.isEmpty else {
                throw CommandFailure("--scopes must be a non-empty list of read, trade, cancel, account")
            }
            if let days = expiresInDays, days <= 0 { throw CommandFailure("--expires-in-days must be positive") }
            let pin = try ClientCertificatePin.resolve(sha256: clientCertSha256, pemFile: clientCert)
            var restrictions = KeyRestrictions()
            if let ipAllow {
                for entry in ipAllow.split(separator: ",") {
                    guard let network = IPNetwork(String(entry).trimmingCharacters(in: .whitespaces)) else {
                        throw CommandFailure("--ip-allow: '\(entry)' is not an address or CIDR")
                    }
                    restrictions.ipAllowlist.append(network)
                }
            }
            if let instruments {
                restrictions.instruments = Set(instruments.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
            }
            if let maxNotional {
                guard let value = FixedDecimal(parsing: maxNotional), value.isPositive else {
                    throw CommandFailure("--max-notional must be a positive decimal")
                }
                restrictions.maxOrderNotional = value
            }
            let store = try OperatorStore.open(options.resolvedData)
            let now = SystemClock().nowMs()
            let keyID = Identifier.random(prefix: "k", bytes: 12)
            // The secret is sealed with the master key, bound to this key id, before it touches the disk.
            let sealed = try hmacSecret.map { try MasterKey.box(data: options.resolvedData).seal($0, boundTo: keyID) }
            let key = try store.createKey(
                accountID: account, algorithm: algorithm, publicKey: bytes, scopes: scopeSet, label: label,
                expiresMs: expiresInDays.map { now + Int64($0) * 86_400_000 }, clientCertificatePin: pin, restrictions: restrictions,
                keyID: keyID, sealedSecret: sealed, nowMs: now)
            if options.json {
                var w = JSONWriter()
                w.beginObject()
                w.key("key_id")
                w.string(key.id)
                if let hmacSecret {
                    w.key("secret")
                    w.string(Base64URL.encode(hmacSecret))
                }
                w.endObject()
                print(w.string)
            } else {
                print("created key \(key.id) (\(algorithm.rawValue), scopes \(Scope.render(scopeSet))) for \(account)")
                if let hmacSecret {
                    print("secret (shown once, store it now): \(Base64URL.encode(hmacSecret))")
                    print("HMAC logins need auth.hmac_enabled=true on the gateway")
                }
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

enum KeyRendering {
    static func write(_ key: APIKeyRecord, to w: inout JSONWriter) {
        w.beginObject()
        w.key("key_id")
        w.string(key.id)
        w.key("account_id")
        w.string(key.accountID)
        w.key("type")
        w.string(key.algorithm.rawValue)
        w.key("public_key")
        w.string(Base64URL.encode(key.publicKey))
        w.key("scopes")
        w.beginArray()
        for scope in key.scopes.sorted() { w.string(scope.rawValue) }
        w.endArray()
        w.key("label")
        w.string(key.label)
        w.key("status")
        w.string(key.status.rawValue)
        w.key("created_ms")
        w.int(key.createdMs)
        if let expires = key.expiresMs {
            w.key("expires_ms")
            w.int(expires)
        }
        if let pin = key.clientCertificatePin {
            w.key("client_cert_sha256")
            w.string(pin)
        }
        if !key.restrictions.ipAllowlist.isEmpty {
            w.key("ip_allowlist")
            w.beginArray()
            for network in key.restrictions.ipAllowlist { w.string(network.description) }
            w.endArray()
        }
        if let instruments = key.restrictions.instruments {
            w.key("instruments")
            w.beginArray()
            for instrument in instruments.sorted() { w.string(instrument) }
            w.endArray()
        }
        if let cap = key.restrictions.maxOrderNotional {
            w.key("max_order_notional")
            w.string(cap.description)
        }
        if let locked = key.lockedUntilMs {
            w.key("locked_until_ms")
            w.int(locked)
        }
        if let used = key.lastUsedMs {
            w.key("last_used_ms")
            w.int(used)
        }
        w.endObject()
    }
}

enum ClientCertificatePin {
    /// Lowercase hex SHA-256 from `--client-cert-sha256` or from the certificate in `--client-cert`.
    static func resolve(sha256: String?, pemFile: String?) throws -> String? {
        switch (sha256, pemFile) {
        case (nil, nil):
            return nil
        case (let hex?, nil):
            let normalized = hex.lowercased().replacingOccurrences(of: ":", with: "")
            guard normalized.count == 64, normalized.allSatisfy({ $0.isHexDigit }) else {
                throw CommandFailure("--client-cert-sha256 must be 64 hex digits")
            }
            return normalized
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
