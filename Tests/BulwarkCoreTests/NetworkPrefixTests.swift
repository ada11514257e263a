import BulwarkCore
import Testing

@Suite struct NetworkPrefixTests {
    @Test(arguments: [
        ("203.0.113.77", "203.0.113.0/24"),
        ("203.0.113.0", "203.0.113.0/24"),
        ("10.255.255.255", "10.255.255.0/24"),
        ("0.0.0.0", "0.0.0.0/24"),
        ("2001:db8:1:2::5", "2001:db8:1::/48"),
        ("2001:db8:1:ffff:ffff:ffff:ffff:ffff", "2001:db8:1::/48"),
        ("2001:0db8:0001:0000:0000:0000:0000:0001", "2001:db8:1::/48"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("::1", "::/48"),
        ("fe80::1", "fe80::/48"),
        ("::ffff:203.0.113.9", "203.0.113.0/24"),  // IPv4-mapped, as a dual-stack socket reports IPv4
        ("::ffff:cb00:7109", "203.0.113.0/24"),  // the same, in hex
        ("64:ff9b::198.51.100.7", "198.51.100.0/24"),  // NAT64 well-known prefix
        ("::198.51.100.7", "::/48"),  // deprecated IPv4-compatible form: just IPv6
    ])
    func prefixes(_ ip: String, _ expected: String) {
        #expect(NetworkPrefix.of(ip) == expected)
    }

    @Test func sameNetworkDifferentHosts() {
        #expect(NetworkPrefix.of("198.51.100.1") == NetworkPrefix.of("198.51.100.254"))
        #expect(NetworkPrefix.of("198.51.100.1") != NetworkPrefix.of("198.51.101.1"))
        #expect(NetworkPrefix.of("2001:db8:1:1::1") == NetworkPrefix.of("2001:db8:1:2::1"))  // privacy addresses
        #expect(NetworkPrefix.of("2001:db8:1::1") != NetworkPrefix.of("2001:db8:2::1"))
        #expect(NetworkPrefix.of("::ffff:198.51.100.1") == NetworkPrefix.of("198.51.100.9"))
    }

    @Test(arguments: [
        "", " ", "garbage", "example.com", "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4x", "1.2.3.4/24",
        "2001:db8::/48", "2001:db8:::1", "[2001:db8::1]", "fe80::1%eth0", "1.2.3.4 ", ":::",
    ])
    func rejectsGarbage(_ ip: String) {
        #expect(NetworkPrefix.of(ip) == nil)
    }
}
