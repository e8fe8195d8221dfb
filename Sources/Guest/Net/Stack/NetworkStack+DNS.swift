// Name resolution on the stack: the DNS resolver (sans-I/O) gets a UDP port, the servers
// from DHCP or `dns=`, and its queries and answers travel through the stack's UDP path.
// The stack reaches the resolver only through `NameService`, set by the first `resolve`: an
// application that never resolves a name links none of DNS (~9 KB of code).

extension NetworkStack {
    /// Starts resolving `name` to IPv4 addresses. A cached answer comes back at once;
    /// otherwise poll the stack and read `resolution` (nil while the query is in flight).
    @discardableResult
    public func resolve(_ name: String, now: UInt64) -> DNSResolver.Result? {
        if dns == nil { dns = DNSClient(resolver: DNSResolver(servers: dnsServers, random: &random), port: random.ephemeralPort()) }
        return dns!.start(name, servers: dnsServers, stack: self, now: now)
    }

    /// The outcome of the last `resolve`, once known.
    public var resolution: DNSResolver.Result? { dns?.answer }
}

/// The stack's side of a name resolver: polled with the stack, given the UDP datagrams for its port.
/// Public although only the library conforms: with an internal protocol of one conforming type,
/// the optimizer calls that type directly from `poll`, and the resolver is linked again.
public protocol NameService: AnyObject {
    var answer: DNSResolver.Result? { get }
    /// Starts resolving `name`: a cached answer at once, else nil and queries on their way.
    func start(_ name: String, servers: [IPv4Address], stack: NetworkStack, now: UInt64) -> DNSResolver.Result?
    func poll(_ stack: NetworkStack, now: UInt64)
    /// A UDP datagram for `port`; true if it was the service's.
    func receive(_ payload: UnsafeRawBufferPointer, port: UInt16, now: UInt64) -> Bool
    func pollAt() -> UInt64?
}

final class DNSClient: NameService {
    var resolver: DNSResolver
    let port: UInt16
    var answer: DNSResolver.Result?

    init(resolver: DNSResolver, port: UInt16) {
        self.resolver = resolver
        self.port = port
    }

    func start(_ name: String, servers: [IPv4Address], stack: NetworkStack, now: UInt64) -> DNSResolver.Result? {
        resolver.servers = servers
        let immediate = resolver.start(name, now: now)
        answer = immediate
        poll(stack, now: now)
        return immediate
    }

    func poll(_ stack: NetworkStack, now: UInt64) {
        while let query = resolver.poll(now: now) {
            query.payload.withUnsafeBytes { bytes in
                // A query that cannot go out (no address yet) times out in the resolver.
                do throws(NetworkStack.SocketError) {
                    try stack.sendUDP(from: port, to: query.server, port: DNSResolver.serverPort, payload: bytes, now: now)
                } catch {}
            }
        }
        if answer == nil, let result = resolver.result { answer = result }
    }

    func receive(_ payload: UnsafeRawBufferPointer, port: UInt16, now: UInt64) -> Bool {
        guard port == self.port else { return false }
        if let result = resolver.receive(payload, now: now) { answer = result }
        return true
    }

    func pollAt() -> UInt64? { resolver.pollAt() }
}
