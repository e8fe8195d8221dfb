// Network settings from guest arguments: what is accepted, and bad values refused (never a trap).
import Testing
@testable import Swiftlet

@Suite struct NetworkConfigurationTests {
    @Test func readsAddressGatewayAndServers() throws {
        let configuration = try NetworkConfiguration(arguments: ["app", "ip=10.0.0.2/16", "gw=10.0.0.1", "dns=1.1.1.1,9.9.9.9", "other"])
        #expect(configuration.mode == .manual(IPv4Subnet(address: IPv4Address(10, 0, 0, 2), prefixLength: 16)))
        #expect(configuration.gateway == IPv4Address(10, 0, 0, 1))
        #expect(configuration.dnsServers == [IPv4Address(1, 1, 1, 1), IPv4Address(9, 9, 9, 9)])
        #expect(try NetworkConfiguration(arguments: ["ip=10.0.0.2", "ip=dhcp"]).mode == .dhcp)
        #expect(try NetworkConfiguration(arguments: ["ip=10.0.0.2"]).mode
            == .manual(IPv4Subnet(address: IPv4Address(10, 0, 0, 2), prefixLength: 24)))
    }

    @Test func edgeFormsThatAreAccepted() throws {
        func subnet(_ argument: String) throws -> NetworkConfiguration.Mode { try NetworkConfiguration(arguments: [argument]).mode }
        let address = IPv4Address(10, 0, 0, 2)
        #expect(try subnet("ip=10.0.0.2/0") == .manual(IPv4Subnet(address: address, prefixLength: 0)))
        #expect(try subnet("ip=10.0.0.2/32") == .manual(IPv4Subnet(address: address, prefixLength: 32)))
        #expect(try subnet("ip=10.0.0.2/032") == .manual(IPv4Subnet(address: address, prefixLength: 32)))
        // Empty pieces are skipped, as split(separator:) skips them.
        #expect(try subnet("ip=10.0.0.2/") == .manual(IPv4Subnet(address: address, prefixLength: 24)))
        #expect(try subnet("ip=/10.0.0.2//16") == .manual(IPv4Subnet(address: address, prefixLength: 16)))
        #expect(try NetworkConfiguration(arguments: ["dns=,1.1.1.1,,"]).dnsServers == [IPv4Address(1, 1, 1, 1)])
        #expect(try NetworkConfiguration(arguments: ["dns=1.1.1.1", "dns="]).dnsServers == [])
        // Not ours: no '=', another key, a key differing only in case or by a space.
        let untouched = try NetworkConfiguration(arguments: ["ip", "ip 10.0.0.2", "IP=x", "ip =x", "gateway=x", "=", ""])
        #expect(untouched == NetworkConfiguration())
    }

    @Test(arguments: ["ip=", "ip=/24", "ip=10.0.0.2/33", "ip=10.0.0.2/16/8", "ip=10.0.0.2/x", "ip=10.0.0", "ip=10.0.0.2.",
                       "ip=DHCP", "gw=", "gw=x", "gw=10.0.0.1/24", "dns=a", "dns=1.1.1.1,x",
                       "ip=10.0.0.2/+16", "ip=10.0.0.2/-0", "ip=10.0.0.2/ 16", "ip=10.0.0.2/99999999999999999999",
                       "ip=10.0.0.256", "ip=10.0.0.0002", "gw= 10.0.0.1", "ip=10.0.0.2=", "dns=1.1.1.1;8.8.8.8"])
    func badValuesAreRefused(_ argument: String) {
        #expect(throws: NetworkConfiguration.ParseError.badAddress(argument)) {
            try NetworkConfiguration(arguments: [argument])
        }
    }
}
