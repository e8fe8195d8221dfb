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

    @Test(arguments: ["ip=", "ip=/24", "ip=10.0.0.2/33", "ip=10.0.0.2/16/8", "ip=10.0.0.2/x", "ip=10.0.0", "ip=10.0.0.2.",
                       "ip=DHCP", "gw=", "gw=x", "gw=10.0.0.1/24", "dns=a", "dns=1.1.1.1,x"])
    func badValuesAreRefused(_ argument: String) {
        #expect(throws: NetworkConfiguration.ParseError.badAddress(argument)) {
            try NetworkConfiguration(arguments: [argument])
        }
    }
}
