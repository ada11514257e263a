/// The network a client address belongs to, for the risk engine's "new network" and
/// "concurrent networks" signals: the /24 of an IPv4 address, the /48 of an IPv6 address.
///
/// Why these sizes: a /24 is the smallest IPv4 block that is routed and allocated on its own, so
/// a home or office NAT, a mobile carrier's pool or a cloud subnet usually stays inside one; a
/// /48 is the usual IPv6 site allocation, while the host half (/64 and below) changes with
/// privacy addresses every few hours. Comparing whole addresses would raise "new IP" constantly;
/// comparing these prefixes raises "new network" when the client really moved.
public enum NetworkPrefix {
    /// `"203.0.113.0/24"` for `"203.0.113.77"`, `"2001:db8:1::/48"` for `"2001:db8:1:2::5"`, nil
    /// when `ip` is not a literal address.
    ///
    /// IPv4 clients seen as IPv6 are reduced to their IPv4 /24, so one client gets one prefix
    /// whichever socket family it arrived on: IPv4-mapped addresses (`::ffff:a.b.c.d`, how a
    /// dual-stack socket reports IPv4 peers) and the NAT64 well-known prefix (`64:ff9b::a.b.c.d`,
    /// RFC 6052), which would otherwise put every IPv4 client of a NAT64 gateway in one /48.
    public static func of(_ ip: String) -> String? {
        guard var bytes = IPNetwork.parseAddress(ip) else { return nil }
        if bytes.count == 16, let embedded = embeddedIPv4(bytes) { bytes = embedded }
        let prefixLength = bytes.count == 4 ? ipv4PrefixLength : ipv6PrefixLength
        return "\(IPNetwork.format(IPNetwork.mask(bytes, prefix: prefixLength)))/\(prefixLength)"
    }

    public static let ipv4PrefixLength = 24
    public static let ipv6PrefixLength = 48

    private static let ipv4MappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]
    private static let nat64Prefix: [UInt8] = [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0]

    /// The IPv4 address inside an IPv4-mapped or NAT64 well-known-prefix IPv6 address.
    private static func embeddedIPv4(_ bytes: [UInt8]) -> [UInt8]? {
        let head = Array(bytes.prefix(12))
        guard head == ipv4MappedPrefix || head == nat64Prefix else { return nil }
        return Array(bytes.suffix(4))
    }
}
