import BulwarkCore
import Testing

@Suite struct IPNetworkTests {
    @Test func ipv4Networks() throws {
        let network = try #require(IPNetwork("10.1.2.3/8"))
        #expect(network.description == "10.0.0.0/8")
        #expect(network.contains("10.255.0.1"))
        #expect(!network.contains("11.0.0.1"))
        #expect(network.contains("::ffff:10.9.9.9"))  // IPv4-mapped, as a dual-stack socket reports it
        let host = try #require(IPNetwork("127.0.0.1"))
        #expect(host.prefixLength == 32 && host.contains("127.0.0.1") && !host.contains("127.0.0.2"))
        #expect(try #require(IPNetwork("0.0.0.0/0")).contains("203.0.113.9"))
    }

    @Test func ipv6Networks() throws {
        let network = try #require(IPNetwork("2001:db8::/32"))
        #expect(network.contains("2001:db8:ffff::1"))
        #expect(!network.contains("2001:db9::1"))
        #expect(!network.contains("10.0.0.1"))
        #expect(try #require(IPNetwork("::1")).contains("::1"))
        #expect(try #require(IPNetwork("2001:db8::/33")).contains("2001:db8:7fff::1"))
        #expect(try !#require(IPNetwork("2001:db8::/33")).contains("2001:db8:8000::1"))
    }

    @Test(arguments: ["", "10.0.0.0/33", "10.0.0/8", "::1/129", "10.0.0.0/-1", "10.0.0.0/ 8", "example.com", "10.0.0.0/8/8"])
    func rejectsMalformed(_ text: String) {
        #expect(IPNetwork(text) == nil)
    }

    @Test func restrictions() {
        let open = KeyRestrictions()
        #expect(open.allows(ip: "203.0.113.1") && open.allows(instrument: "ANY"))
        let limited = KeyRestrictions(ipAllowlist: [IPNetwork("192.0.2.0/24")!], instruments: ["BTC-USD"])
        #expect(limited.allows(ip: "192.0.2.77") && !limited.allows(ip: "198.51.100.1") && !limited.allows(ip: ""))
        #expect(limited.allows(instrument: "BTC-USD") && !limited.allows(instrument: "ETH-USD"))
    }
}
