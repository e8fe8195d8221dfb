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
            guard argument.withByteText({ read($0) }) else { throw .badAddress(argument) }
        }
    }

    #if SWIFTLET_GUEST
    /// The same from the guest's own arguments, read in place (no String made unless one is refused).
    public static func fromGuestArguments() throws(ParseError) -> NetworkConfiguration {
        var configuration = NetworkConfiguration()
        for index in 0..<Runtime.argc {
            let argument = CommandLine.argumentText(index)
            guard configuration.read(argument) else { throw .badAddress(argument.string) }
        }
        return configuration
    }
    #endif

    /// Applies `argument` if it is one of ours; false if it is, with a value that is not an
    /// address (or list or subnet) of the kind its key asks for.
    private mutating func read(_ argument: ByteText) -> Bool {
        guard let setting = KeyValueArgument(argument) else { return true }
        let value = setting.value
        if setting.key.equals("ip") {
            guard !value.equals("dhcp") else { mode = .dhcp; return true }
            var parts = value.fields(separatedBy: UInt8(ascii: "/"))
            guard let first = parts.next(), let address = IPv4Address(first) else { return false }
            var prefix = 24
            if let second = parts.next() {
                guard parts.next() == nil, let parsed = second.decimal(atMost: 32) else { return false }
                prefix = Int(parsed)
            }
            mode = .manual(IPv4Subnet(address: address, prefixLength: prefix))
        } else if setting.key.equals("gw") {
            guard let address = IPv4Address(value) else { return false }
            gateway = address
        } else if setting.key.equals("dns") {
            var servers: [IPv4Address] = []
            for part in value.fields(separatedBy: UInt8(ascii: ",")) {
                guard let address = IPv4Address(part) else { return false }
                servers.append(address)
            }
            dnsServers = servers
        }
        return true
    }
}
