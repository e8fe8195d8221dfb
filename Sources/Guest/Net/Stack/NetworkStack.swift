// The guest's IPv4 stack on one interface: Ethernet in and out, ARP, ICMP echo, UDP sockets
// (TCP and DHCP plug in through the same input and output paths). Time is an input:
// `poll(now:)` does all pending work, `pollAt()` says when to call again. So is randomness:
// every unpredictable value comes from the `NetworkRandom` the stack was made with. The host
// is met once per turn of a network loop (`turn`): the device's `exchange` sends what the turn
// built and takes in what arrived.

public final class NetworkStack {
    public let device: any FrameDevice
    public private(set) var subnet: IPv4Subnet?
    public private(set) var gateway: IPv4Address?
    public private(set) var dnsServers: [IPv4Address]
    public var statistics = NetworkStatistics()
    var arp: ARPCache
    /// The bound UDP ports, once the application bound one.
    var udp: (any DatagramPorts)?
    /// Places the keys of the stack's hash tables (from `random`).
    let tableHasher: SipHash13
    var tcp: TCPLayer
    /// Initial sequence numbers, ephemeral ports and the DHCP and DNS clients' seeds.
    var random: NetworkRandom
    /// The DHCP client, when the address comes from DHCP.
    var dhcp: DHCPClient?
    /// The DNS resolver and its port, once the application resolved a name.
    var dns: (any NameService)?
    private var nextIdentification: UInt16 = 1
    private var announced = false
    /// TCP and ICMP packets that arrived before the stack had an address (a client that
    /// connects while DHCP is still under way), answered once it has one instead of lost:
    /// passt does not resend a SYN, so the client's connection would hang.
    private var heldUntilConfigured: [[UInt8]] = []
    /// Bit i: the device vouched for the checksums of `heldUntilConfigured[i]`. A bit set beside
    /// an array of byte arrays, types every image has: an array of tuples brought ~300 bytes of
    /// growth code of its own.
    private var heldChecksumsTrusted: UInt32 = 0
    public static let heldPacketLimit = 16      // at most the bits of heldChecksumsTrusted

    /// `random` is the platform's CSPRNG unless a test seeds one to know every byte sent.
    public init(device: any FrameDevice, configuration: NetworkConfiguration, tcp settings: TCPSettings? = nil,
                random: NetworkRandom = .platform) {
        self.device = device
        var random = random
        tableHasher = random.tableHasher()
        self.random = random
        arp = ARPCache(hasher: tableHasher)
        tcp = TCPLayer(settings: settings ?? TCPSettings(mtu: device.mtu), hasher: tableHasher)
        if device.segmentationLimit > 0 {
            // Room for the largest IPv4 and TCP headers beside the payload.
            tcp.settings.connection.segmentationOffloadLimit = device.segmentationLimit - EthernetFrame.headerLength - 60 - 60
        }
        gateway = configuration.gateway
        dnsServers = configuration.dnsServers
        switch configuration.mode {
        case .manual(let subnet):
            self.subnet = subnet
        case .dhcp:
            dhcp = DHCPClient(mac: device.mac, random: &self.random)
        }
    }

    /// The current DHCP lease, if the address came from DHCP.
    public var dhcpLease: DHCPLease? { dhcp?.lease }

    public var address: IPv4Address? { subnet?.address }

    /// Applies an address from DHCP or the application.
    public func configure(subnet: IPv4Subnet?, gateway: IPv4Address?, dnsServers: [IPv4Address]) {
        if subnet != self.subnet { announced = false }
        self.subnet = subnet
        self.gateway = gateway
        self.dnsServers = dnsServers
    }

    // MARK: Polling

    /// Handles the frames the device has taken in and every due timer. What that sends goes
    /// to the host at the device's next `exchange`.
    public func poll(now: UInt64) {
        if !announced { announce() }
        // Not in the poll that configures the address: by the next one the application,
        // back from `waitForAddress`, has opened its listeners.
        if address != nil && !heldUntilConfigured.isEmpty { replayHeldPackets(now: now) }
        device.receive { frame in self.receive(frame: frame.bytes, checksumTrusted: frame.checksumTrusted, now: now) }
        pollDHCP(now: now)
        dns?.poll(self, now: now)
        pollTCP(now: now)
        for address in arp.due(now: now) { sendARPRequest(for: address) }
    }

    /// One turn of a network loop at `now`: handles input and timers (`poll`), lets the
    /// application react (`body`; false stops the loop), builds what it queued, and ends with
    /// the device's one exchange, which waits until input arrives, the stack's next timer or
    /// `wakeAt()`. Returns false, before the exchange, when `body` does.
    public func turn(now: UInt64, wakeAt: () -> UInt64? = { nil }, _ body: (UInt64) -> Bool) -> Bool {
        poll(now: now)
        guard body(now) else { return false }
        transmitPending(now: now)
        device.exchange(until: earliest(pollAt(), wakeAt()))
        return true
    }

    private func pollDHCP(now: UInt64) {
        guard var client = dhcp else { return }
        while let output = client.poll(now: now) {
            let payload = output.payload
            let source = output.source
            payload.withUnsafeBytes { bytes in
                let udp = UDPRepr(sourcePort: DHCPClient.clientPort, destinationPort: DHCPClient.serverPort, payloadLength: bytes.count)
                sendIPv4(to: output.destination, from: source, proto: .udp, payloadLength: udp.bufferLength, now: now) { buffer in
                    udp.emit(into: buffer, payload: bytes, source: source, destination: output.destination)
                }
            }
        }
        while let event = client.nextEvent() {
            switch event {
            case .bound(let lease), .renewed(let lease):
                configure(subnet: lease.subnet, gateway: lease.router, dnsServers: lease.dnsServers)
            case .lost:
                configure(subnet: nil, gateway: nil, dnsServers: [])
            }
        }
        dhcp = client
    }

    /// Builds the segments for what the application queued since the last poll (data, FINs),
    /// without input; they go to the host at the device's next `exchange`.
    public func transmitPending(now: UInt64) {
        pollTCP(now: now)
    }

    /// When `poll` next has timer work to do (nil: only new input can create work).
    public func pollAt() -> UInt64? {
        earliest(earliest(arp.pollAt(), tcpPollAt()), earliest(dhcp?.pollAt(), dns?.pollAt()))
    }

    // MARK: Input

    /// `checksumTrusted`: the device vouches for the checksums (offload), so they are not verified.
    func receive(frame bytes: UnsafeRawBufferPointer, checksumTrusted: Bool = false, now: UInt64) {
        statistics.framesReceived += 1
        guard let frame = try? EthernetFrame(checking: bytes) else { statistics.malformed += 1; return }
        let destination = frame.destination
        // Before the guest has sent anything, passt does not know its MAC and addresses a
        // client's early SYN to a guessed one: while unconfigured, IPv4 to any MAC is taken
        // (and held, below) rather than lost.
        let early = address == nil && frame.etherType == .ipv4
        guard destination == device.mac || destination.isBroadcast || early else { statistics.notForUs += 1; return }
        switch frame.etherType {
        case .arp: receiveARP(frame.payload, now: now)
        case .ipv4: receiveIPv4(frame.payload, checksumTrusted: checksumTrusted, now: now)
        default: statistics.unsupported += 1
        }
    }

    private func receiveARP(_ bytes: UnsafeRawBufferPointer, now: UInt64) {
        guard let packet = try? ARPRepr.parse(bytes: bytes) else { statistics.malformed += 1; return }
        guard let address, !packet.senderProtocolAddress.isUnspecified else { return }
        let forUs = packet.targetProtocolAddress == address
        // RFC 826: refresh what we know of the sender; learn it if the packet is for us.
        if forUs || arp.lookup(packet.senderProtocolAddress, now: now) != nil {
            for waiting in arp.learn(packet.senderProtocolAddress, is: packet.senderHardwareAddress, now: now) {
                transmitResolved(waiting, to: packet.senderHardwareAddress)
            }
        }
        guard forUs, packet.operation == .request else { return }
        let reply = ARPRepr(operation: .reply,
                            senderHardwareAddress: device.mac, senderProtocolAddress: address,
                            targetHardwareAddress: packet.senderHardwareAddress, targetProtocolAddress: packet.senderProtocolAddress)
        transmitEthernet(to: packet.senderHardwareAddress, type: .arp, length: reply.bufferLength) { reply.emit(into: $0) }
    }

    private func receiveIPv4(_ bytes: UnsafeRawBufferPointer, checksumTrusted: Bool, now: UInt64) {
        guard let packet = try? IPv4Packet(checking: bytes), let ip = try? IPv4Repr.parse(packet) else {
            statistics.malformed += 1
            return
        }
        // Fragments are dropped and counted: this stack's peers use path-MTU-sized segments.
        guard !ip.isFragment else { statistics.fragmentsDropped += 1; return }
        let forUs = ip.destination == address || ip.destination.isBroadcast
            || (subnet.map { ip.destination == $0.broadcast } ?? false)
        guard forUs || address == nil else { statistics.notForUs += 1; return }
        if address == nil && (ip.proto == .tcp || ip.proto == .icmp) {
            hold(bytes, checksumTrusted: checksumTrusted)
            return
        }
        switch ip.proto {
        case .icmp: receiveICMP(packet, ip: ip, now: now)
        case .udp: receiveUDP(packet, ip: ip, checksumTrusted: checksumTrusted, now: now)
        case .tcp: receiveTCP(packet, ip: ip, checksumTrusted: checksumTrusted, now: now)
        default:
            statistics.unsupported += 1
        }
    }

    private func hold(_ packet: UnsafeRawBufferPointer, checksumTrusted: Bool) {
        guard heldUntilConfigured.count < Self.heldPacketLimit else { statistics.heldDropped += 1; return }
        if checksumTrusted { heldChecksumsTrusted |= 1 << heldUntilConfigured.count }
        heldUntilConfigured.append(Array(packet))
    }

    private func replayHeldPackets(now: UInt64) {
        let held = heldUntilConfigured
        let trusted = heldChecksumsTrusted
        heldUntilConfigured = []
        heldChecksumsTrusted = 0
        for index in held.indices {
            held[index].withUnsafeBytes { receiveIPv4($0, checksumTrusted: trusted & 1 << index != 0, now: now) }
        }
    }

    private func receiveICMP(_ packet: IPv4Packet, ip: IPv4Repr, now: UInt64) {
        guard let message = try? ICMPv4Repr.parse(bytes: packet.payload) else { statistics.malformed += 1; return }
        guard case .echoRequest(let identifier, let sequence, let data) = message, ip.destination == address else { return }
        statistics.echoRepliesSent += 1
        let reply = ICMPv4Repr.echoReply(identifier: identifier, sequence: sequence, data: data)
        sendIPv4(to: ip.source, proto: .icmp, payloadLength: reply.bufferLength, now: now) { reply.emit(into: $0) }
    }

    private func receiveUDP(_ packet: IPv4Packet, ip: IPv4Repr, checksumTrusted: Bool, now: UInt64) {
        guard let datagram = try? UDPDatagram(checking: packet.payload),
              let udp = try? UDPRepr.parse(datagram, source: ip.source, destination: ip.destination,
                                           verifyChecksum: !checksumTrusted) else {
            statistics.malformed += 1
            return
        }
        if udp.destinationPort == DHCPClient.clientPort, dhcp != nil {
            dhcp!.receive(datagram.payload, now: now)
            return
        }
        if let dns, dns.receive(datagram.payload, port: udp.destinationPort, now: now) { return }
        guard let ports = self.udp, ports.deliver(datagram.payload, to: udp.destinationPort, from: ip.source, port: udp.sourcePort) else {
            statistics.udpNoListener += 1
            if ip.destination == address { sendUnreachable(packet, ip: ip, code: ICMPv4Repr.UnreachableCode.port, now: now) }
            return
        }
    }

    private func sendUnreachable(_ packet: IPv4Packet, ip: IPv4Repr, code: UInt8, now: UInt64) {
        let message = ICMPv4Repr.destinationUnreachable(code: code, original: ICMPv4Repr.quotedPrefix(of: packet))
        sendIPv4(to: ip.source, proto: .icmp, payloadLength: message.bufferLength, now: now) { message.emit(into: $0) }
    }

    // MARK: UDP

    public enum SocketError: Error, Equatable { case portInUse, noAddress, tooLarge, tooManyConnections }

    public func bindUDP(port: UInt16, queueLimit: Int = 64) throws(SocketError) -> UDPSocket {
        let ports = udp ?? UDPPorts(hasher: tableHasher)
        udp = ports
        guard !ports.isBound(port) else { throw .portInUse }
        let socket = UDPSocket(stack: self, port: port, queueLimit: queueLimit)
        ports.bind(socket)
        return socket
    }

    func unbindUDP(port: UInt16) { udp?.unbind(port) }

    func sendUDP(from port: UInt16, to destination: IPv4Address, port destinationPort: UInt16,
                 payload: UnsafeRawBufferPointer, now: UInt64) throws(SocketError) {
        guard let source = address ?? (destination.isBroadcast ? IPv4Address.any : nil) else { throw .noAddress }
        let udp = UDPRepr(sourcePort: port, destinationPort: destinationPort, payloadLength: payload.count)
        guard udp.bufferLength + IPv4Repr.headerLength <= device.mtu else { throw .tooLarge }
        sendIPv4(to: destination, from: source, proto: .udp, payloadLength: udp.bufferLength, now: now) { buffer in
            udp.emit(into: buffer, payload: payload, source: source, destination: destination)
        }
    }

    // MARK: Output

    /// Sends an IPv4 packet whose payload `writePayload` fills in place. Resolves the next
    /// hop first; if that takes an ARP round trip, the packet waits in the ARP queue (so
    /// `offload`, which the device carries out, is only for a hop `resolves`).
    func sendIPv4(to destination: IPv4Address, from source: IPv4Address? = nil, proto: IPProtocol,
                  payloadLength: Int, now: UInt64, offload: TransmitOffload = .none,
                  _ writePayload: (UnsafeMutableRawBufferPointer) -> Void) {
        guard let source = source ?? address else { statistics.noRoute += 1; return }
        let ip = IPv4Repr(source: source, destination: destination, proto: proto,
                          payloadLength: payloadLength, identification: nextIdentification)
        nextIdentification &+= 1
        let limit = offload.segmentSize > 0 ? device.segmentationLimit - EthernetFrame.headerLength : device.mtu
        guard ip.bufferLength <= limit else { statistics.tooLarge += 1; return }
        func write(_ buffer: UnsafeMutableRawBufferPointer) {
            ip.emit(into: buffer)
            writePayload(UnsafeMutableRawBufferPointer(rebasing: buffer[IPv4Repr.headerLength..<ip.bufferLength]))
        }
        if destination.isBroadcast || (subnet.map { destination == $0.broadcast } ?? false) {
            transmitEthernet(to: .broadcast, type: .ipv4, length: ip.bufferLength, offload: offload, write)
            return
        }
        guard let hop = nextHop(for: destination) else { statistics.noRoute += 1; return }
        if let mac = arp.lookup(hop, now: now) {
            transmitEthernet(to: mac, type: .ipv4, length: ip.bufferLength, offload: offload, write)
            return
        }
        guard offload.isNone else { statistics.tooLarge += 1; return }
        var packet = [UInt8](repeating: 0, count: ip.bufferLength)
        packet.withUnsafeMutableBytes { write($0) }
        if arp.enqueue(packet, for: hop, now: now) { sendARPRequest(for: hop) }
    }

    func nextHop(for destination: IPv4Address) -> IPv4Address? {
        if let subnet, subnet.contains(destination) { return destination }
        return gateway
    }

    /// Whether a packet to `destination` would go out at once (not wait for ARP).
    func resolves(_ destination: IPv4Address, now: UInt64) -> Bool {
        guard let hop = nextHop(for: destination) else { return false }
        return arp.lookup(hop, now: now) != nil
    }

    private func transmitResolved(_ packet: [UInt8], to mac: MACAddress) {
        transmitEthernet(to: mac, type: .ipv4, length: packet.count) { buffer in
            packet.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
    }

    /// An ARP announcement (RFC 5227 §2.3) when an address is taken: neighbours, and user-mode
    /// networks like passt, learn where the address lives before the first packet to it.
    private func announce() {
        guard let address else { return }
        announced = true
        let announcement = ARPRepr(operation: .request, senderHardwareAddress: device.mac, senderProtocolAddress: address,
                                   targetHardwareAddress: .zero, targetProtocolAddress: address)
        transmitEthernet(to: .broadcast, type: .arp, length: announcement.bufferLength) { announcement.emit(into: $0) }
    }

    private func sendARPRequest(for target: IPv4Address) {
        guard let address else { return }
        statistics.arpRequestsSent += 1
        let request = ARPRepr(operation: .request, senderHardwareAddress: device.mac, senderProtocolAddress: address,
                              targetHardwareAddress: .zero, targetProtocolAddress: target)
        transmitEthernet(to: .broadcast, type: .arp, length: request.bufferLength) { request.emit(into: $0) }
    }

    private func transmitEthernet(to destination: MACAddress, type: EtherType, length: Int, offload: TransmitOffload = .none,
                                  _ writePayload: (UnsafeMutableRawBufferPointer) -> Void) {
        let header = EthernetRepr(destination: destination, source: device.mac, etherType: type)
        let total = EthernetFrame.headerLength + length
        device.transmit(capacity: total, offload: offload) { buffer in
            guard total <= buffer.count else { return 0 }
            header.emit(into: buffer)
            writePayload(UnsafeMutableRawBufferPointer(rebasing: buffer[EthernetFrame.headerLength..<total]))
            // No padding to Ethernet's 60-byte minimum: a virtual link does not need it (a
            // physical NIC pads in hardware), and passt drops any frame longer than its IP
            // packet, so a padded pure ACK (54 bytes + 6) never reached the peer.
            statistics.framesSent += 1
            return total
        }
    }
}

public struct NetworkStatistics: Equatable, Sendable {
    public var framesReceived = 0
    public var framesSent = 0
    public var malformed = 0
    public var notForUs = 0
    public var unsupported = 0
    public var fragmentsDropped = 0
    public var udpNoListener = 0
    public var echoRepliesSent = 0
    public var arpRequestsSent = 0
    public var noRoute = 0
    public var tooLarge = 0
    /// Packets that arrived before the address was known, beyond `heldPacketLimit`.
    public var heldDropped = 0
}

/// The earlier of two optional deadlines (nil: none).
func earliest(_ a: UInt64?, _ b: UInt64?) -> UInt64? {
    guard let a else { return b }
    guard let b else { return a }
    return min(a, b)
}
