// Name resolution on the stack: the DNS resolver (sans-I/O) gets a UDP port, the servers
// from DHCP or `dns=`, and its queries and answers travel through the stack's UDP path.

extension NetworkStack {
    /// Starts resolving `name` to IPv4 addresses. A cached answer comes back at once;
    /// otherwise poll the stack and read `resolution` (nil while the query is in flight).
    @discardableResult
    public func resolve(_ name: String, now: UInt64) -> DNSResolver.Result? {
        if dns == nil {
            dns = DNSStub(resolver: DNSResolver(servers: dnsServers, random: &random), port: random.ephemeralPort())
        }
        dns!.resolver.servers = dnsServers
        let immediate = dns!.resolver.start(name, now: now)
        dns!.answer = immediate
        pollDNS(now: now)
        return immediate
    }

    /// The outcome of the last `resolve`, once known.
    public var resolution: DNSResolver.Result? { dns?.answer }

    func pollDNS(now: UInt64) {
        guard var stub = dns else { return }
        while let query = stub.resolver.poll(now: now) {
            query.payload.withUnsafeBytes { bytes in
                // A query that cannot go out (no address yet) times out in the resolver.
                do throws(SocketError) {
                    try sendUDP(from: stub.port, to: query.server, port: DNSResolver.serverPort, payload: bytes, now: now)
                } catch {}
            }
        }
        if stub.answer == nil, let result = stub.resolver.result { stub.answer = result }
        dns = stub
    }

    /// A UDP datagram for the resolver's port; true if it was the resolver's.
    func receiveDNS(_ payload: UnsafeRawBufferPointer, port: UInt16, now: UInt64) -> Bool {
        guard var stub = dns, port == stub.port else { return false }
        if let result = stub.resolver.receive(payload, now: now) { stub.answer = result }
        dns = stub
        return true
    }
}

struct DNSStub {
    var resolver: DNSResolver
    var port: UInt16
    var answer: DNSResolver.Result?
}
