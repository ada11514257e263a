import BulwarkCore

/// Decides a connection's client IP (PROTOCOL.md §3: allowlists, throttling, sessions and logs use
/// it). The socket's peer is the client unless it is one of `net.trusted_proxies`; then the address
/// that proxy reports (PROXY protocol v2 header, else `X-Forwarded-For`) is taken, walking right to
/// left through further trusted proxies. Headers from anyone else are ignored: they are free text.
struct ClientAddressResolver: Sendable {
    let trustedProxies: [IPNetwork]

    func isTrusted(_ ip: String) -> Bool { trustedProxies.contains { $0.contains(ip) } }

    /// - Parameters:
    ///   - socketPeer: the TCP peer's address.
    ///   - proxyProtocolSource: the source named by a PROXY v2 header (only parsed for trusted peers).
    ///   - forwardedFor: the `X-Forwarded-For` header values, in order.
    func clientIP(socketPeer: String, proxyProtocolSource: String?, forwardedFor: [String]) -> String {
        // Hops from the nearest to the farthest: socket peer, PROXY source, then XFF right to left.
        var hops = [socketPeer]
        if let proxyProtocolSource { hops.append(proxyProtocolSource) }
        let listed = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        hops.append(contentsOf: listed.reversed())
        var client = socketPeer
        for (index, hop) in hops.enumerated() {
            // Garbage in a trusted proxy's header ends the walk at the last good hop.
            guard index == 0 || IPNetwork(hop) != nil else { break }
            client = hop
            guard isTrusted(hop) else { break }
        }
        return client
    }
}
