import Foundation
import NIOHTTP1

/// Decides, before `101 Switching Protocols`, whether a WebSocket upgrade may proceed
/// (PROTOCOL.md §3.1). Pure, so the same decision serves the upgrader (which only says yes or no)
/// and the HTTP responder (which must say why, with the right status).
struct UpgradePolicy: Sendable {
    let path: String
    let allowedOrigins: Set<String>
    /// The IP block list (operators' and automatic blocks).
    var isBlocked: @Sendable (String) -> Bool = { _ in false }
    /// The conformance echo's path when `ws.conformance_echo` is on (same checks, no subprotocol).
    var echoPath: String? = nil

    /// The two WebSocket services a listener may offer.
    enum Endpoint: Equatable {
        case rpc
        case conformanceEcho
    }

    enum Decision: Equatable {
        case accept(subprotocol: String?)
        case refuse(HTTPResponseStatus, reason: String)

        var isAccepted: Bool {
            if case .accept = self { return true }
            return false
        }
    }

    static let subprotocol = "bulwark.v1"

    func endpoint(for uri: String) -> Endpoint? {
        let requested = pathOnly(uri)
        if requested == path { return .rpc }
        if let echoPath, requested == echoPath { return .conformanceEcho }
        return nil
    }

    func evaluate(_ head: HTTPRequestHead, clientIP: String? = nil) -> Decision {
        guard head.method == .GET, let endpoint = endpoint(for: head.uri) else { return .refuse(.notFound, reason: "not_found") }
        if let clientIP, isBlocked(clientIP) { return .refuse(.forbidden, reason: "ip_blocked") }
        // Credentials never travel in the URL (they end up in proxy and access logs).
        guard !head.uri.contains("?") else { return .refuse(.badRequest, reason: "query_not_allowed") }
        let versions = head.headers["Sec-WebSocket-Version"]
        guard versions.count == 1, versions[0] == "13" else { return .refuse(.upgradeRequired, reason: "unsupported_version") }
        // Browsers always send Origin; non-browser clients usually do not. When present it must be
        // an exact member of the allowlist: no substring or suffix match (CSWSH).
        let origins = head.headers["Origin"]
        if !origins.isEmpty {
            guard origins.count == 1, allowedOrigins.contains(origins[0]) else { return .refuse(.forbidden, reason: "origin_not_allowed") }
        }
        let offered = head.headers["Sec-WebSocket-Protocol"].flatMap { $0.split(separator: ",") }.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        return .accept(subprotocol: endpoint == .rpc && offered.contains(Self.subprotocol) ? Self.subprotocol : nil)
    }

    private func pathOnly(_ uri: String) -> Substring {
        uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    }
}

