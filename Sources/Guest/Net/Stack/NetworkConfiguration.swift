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
                var parts = Fields(value, separator: UInt8(ascii: "/"))
                guard let first = parts.next(), let address = IPv4Address(utf8: first) else { throw .badAddress(argument) }
                var prefix = 24
                if let second = parts.next() {
                    guard parts.next() == nil, let parsed = Int(Substring(second)), (0...32).contains(parsed) else {
                        throw .badAddress(argument)
                    }
                    prefix = parsed
                }
                mode = .manual(IPv4Subnet(address: address, prefixLength: prefix))
            } else if setting.isKey("gw") {
                guard let address = IPv4Address(utf8: value) else { throw .badAddress(argument) }
                gateway = address
            } else if setting.isKey("dns") {
                var servers: [IPv4Address] = []
                var parts = Fields(value, separator: UInt8(ascii: ","))
                while let part = parts.next() {
                    guard let address = IPv4Address(utf8: part) else { throw .badAddress(argument) }
                    servers.append(address)
                }
                dnsServers = servers
            }
        }
    }
}

/// The non-empty runs of bytes between separators, as `split(separator:)` cuts them, one at a
/// time: split's array of pieces cost a specialization of its own (~1 KB of every networked image).
private struct Fields: IteratorProtocol {
    private var rest: Substring.UTF8View
    private let separator: UInt8

    init(_ text: Substring.UTF8View, separator: UInt8) {
        rest = text
        self.separator = separator
    }

    mutating func next() -> Substring.UTF8View? {
        while rest.first == separator { rest = rest.dropFirst() }
        guard !rest.isEmpty else { return nil }
        let end = rest.firstIndex(of: separator) ?? rest.endIndex
        defer { rest = rest[end...] }
        return rest[..<end]
    }
}
