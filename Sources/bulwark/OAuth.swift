import ArgumentParser
import BulwarkAuth
import BulwarkCore
import BulwarkGateway
import BulwarkStore
import Foundation

struct OAuth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oauth", abstract: "OAuth clients and token-signing keys (docs/oauth.md).", subcommands: [Clients.self, SigningKeys.self])

    struct Clients: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register, list and revoke OAuth clients.", subcommands: [Create.self, List.self, Revoke.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Register a client: private_key_jwt with the client's public JWK, or client_secret_basic (the secret is printed once).")
            @OptionGroup var options: DataOptions
            @Option(name: .long, help: "Account id (a_...).") var account: String
            @Option(name: .long, help: "Client authentication: private_key_jwt (preferred) or client_secret_basic.") var auth: String = "private_key_jwt"
            @Option(name: .long, help: "File with the client's public JWK or JWK Set (private_key_jwt).") var jwk: String?
            @Option(name: .long, help: "Scopes the client may ask for: read,trade,cancel,account.") var scopes: String
            @Option(name: .long, help: "A label for operators.") var label: String = ""

            func run() async throws {
                guard let method = OAuthClientAuthMethod(rawValue: auth) else {
                    throw CommandFailure("--auth must be private_key_jwt or client_secret_basic")
                }
                let text = try jwk.map { try String(contentsOfFile: $0, encoding: .utf8) }
                if method == .privateKeyJWT, text == nil { throw CommandFailure("private_key_jwt needs --jwk FILE") }
                let created = try OAuthClientManagement.create(
                    store: OperatorStore.open(options.resolvedData), accountID: account, method: method, jwkText: text, scopes: scopes, label: label,
                    nowMs: SystemClock().nowMs())
                if options.json {
                    var w = JSONWriter()
                    w.beginObject()
                    w.key("client_id"); w.string(created.client.id)
                    w.key("auth"); w.string(method.rawValue)
                    if let secret = created.secret {
                        w.key("client_secret"); w.string(secret)
                    }
                    w.key("kids")
                    w.beginArray()
                    for kid in created.keyIDs { w.string(kid) }
                    w.endArray()
                    w.endObject()
                    print(w.string)
                } else {
                    print("client \(created.client.id) (\(method.rawValue)) for account \(account)")
                    if let secret = created.secret { print("client secret (shown once): \(secret)") }
                    if !created.keyIDs.isEmpty { print("key ids: \(created.keyIDs.joined(separator: ", "))") }
                }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Registered clients.")
            @OptionGroup var options: DataOptions
            @Option(name: .long, help: "Only this account's clients.") var account: String?

            func run() async throws {
                let clients = try OperatorStore.open(options.resolvedData).oauthClients(accountID: account)
                if options.json {
                    var w = JSONWriter()
                    w.beginObject()
                    w.key("clients")
                    w.beginArray()
                    for client in clients {
                        w.beginObject()
                        w.key("client_id"); w.string(client.id)
                        w.key("account_id"); w.string(client.accountID)
                        w.key("auth"); w.string(client.authMethod.rawValue)
                        w.key("scopes"); w.string(client.scopes.map(\.rawValue).sorted().joined(separator: " "))
                        w.key("revoked"); w.bool(!client.isActive)
                        w.endObject()
                    }
                    w.endArray()
                    w.endObject()
                    return print(w.string)
                }
                for client in clients {
                    print("\(client.id)  account \(client.accountID)  \(client.authMethod.rawValue)  \(client.isActive ? "active" : "revoked")")
                }
            }
        }

        struct Revoke: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Revoke a client and all its tokens; a running gateway ends their sessions within a second.")
            @OptionGroup var options: DataOptions
            @Argument(help: "Client id (cl_...).") var clientID: String

            func run() async throws {
                let tokens = try OperatorStore.open(options.resolvedData).revokeOAuthClient(id: clientID, nowMs: SystemClock().nowMs())
                print(options.json ? "{\"revoked\":true,\"tokens\":\(tokens.count)}" : "revoked \(clientID) and \(tokens.count) live token(s)")
            }
        }
    }

    struct SigningKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keys", abstract: "Token-signing keys.", subcommands: [Rotate.self])

        struct Rotate: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Create a new signing key now; the old one stays in the JWKS until its tokens have expired.")
            @OptionGroup var options: DataOptions
            @Option(name: .long, help: "EdDSA or ES256.") var alg: String = "EdDSA"

            func run() async throws {
                guard let algorithm = JWSAlgorithm(rawValue: alg), algorithm != .ps256 else { throw CommandFailure("--alg must be EdDSA or ES256") }
                let keys = SigningKeyStore(store: try OperatorStore.open(options.resolvedData), box: try MasterKey.box(data: options.resolvedData))
                let kid = try keys.rotate(algorithm: algorithm, nowMs: SystemClock().nowMs())
                print(options.json ? "{\"kid\":\"\(kid)\"}" : "new signing key \(kid) (\(algorithm.rawValue))")
            }
        }
    }
}
