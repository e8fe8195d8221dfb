// How the guest's interface gets its address: DHCP by default, or statically from guest
// arguments `ip=ADDRESS/PREFIX gw=ADDRESS dns=ADDRESS[,ADDRESS]` (Linux `ip=` style, simpler).

public struct NetworkConfiguration: Equatable, Sendable {
    public enum Mode: Equatable, Sendable {
        case dhcp
        case manual(IPv4Subnet)
    }

    public var mode: Mode
    public var gateway: IPv4Address?
    public var dnsServers: [IPv4Address]

    public init(mode: Mode = .dhcp, gateway: IPv4Address? = nil, dnsServers: [IPv4Address] = []) {
        self.mode = mode
        self.gateway = gateway
        self.dnsServers = dnsServers
    }

    public enum ParseError: Error, Equatable {
        case badAddress(String)
    }

    /// Reads `ip=`, `gw=` and `dns=` from `arguments`; other arguments are the application's.
    public init(arguments: [String]) throws(ParseError) {
        self.init()
        for argument in arguments {
            guard let setting = KeyValueArgument(argument) else { continue }
            // Split and compared as bytes: String's `==` and `split` would link the Unicode
            // tables (~35 KB) into every networked image.
            let value = Substring(setting.value).utf8
            if setting.isKey("ip") {
                guard !value.elementsEqual("dhcp".utf8) else { mode = .dhcp; continue }
                let parts = value.split(separator: UInt8(ascii: "/"))
                guard parts.count <= 2, let first = parts.first, let address = IPv4Address(utf8: first) else { throw .badAddress(argument) }
                var prefix = 24
                if parts.count == 2 {
                    guard let parsed = Int(Substring(parts[1])), (0...32).contains(parsed) else { throw .badAddress(argument) }
                    prefix = parsed
                }
                mode = .manual(IPv4Subnet(address: address, prefixLength: prefix))
            } else if setting.isKey("gw") {
                guard let address = IPv4Address(utf8: value) else { throw .badAddress(argument) }
                gateway = address
            } else if setting.isKey("dns") {
                var servers: [IPv4Address] = []
                for part in value.split(separator: UInt8(ascii: ",")) {
                    guard let address = IPv4Address(utf8: part) else { throw .badAddress(argument) }
                    servers.append(address)
                }
                dnsServers = servers
            }
        }
    }
}
