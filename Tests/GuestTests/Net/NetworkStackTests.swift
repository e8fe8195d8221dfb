// The stack end to end on an in-memory link: exact frames in, exact frames out.
import Testing
import TestSupport
@testable import Swiftlet

private let guestMAC = MACAddress(0x02, 0, 0, 0, 0, 0x10)
private let peerMAC = MACAddress(0x02, 0, 0, 0, 0, 0x20)
private let guestIP = IPv4Address(10, 0, 0, 2)
private let peerIP = IPv4Address(10, 0, 0, 1)
private let remoteIP = IPv4Address(192, 0, 2, 9)

/// A stack on a memory link, past its start-up ARP announcement.
private func makeStack(gateway: IPv4Address? = peerIP) -> (NetworkStack, MemoryLink) {
    let link = MemoryLink(mac: guestMAC)
    let stack = NetworkStack(device: link, configuration: NetworkConfiguration(
        mode: .manual(IPv4Subnet(address: guestIP, prefixLength: 24)), gateway: gateway))
    stack.poll(now: 0)
    _ = link.take()
    return (stack, link)
}

private func ethernet(to: MACAddress = guestMAC, from: MACAddress = peerMAC, type: EtherType, _ payload: [UInt8]) -> [UInt8] {
    var frame = [UInt8](repeating: 0, count: 14 + payload.count)
    frame.withUnsafeMutableBytes { buffer in
        EthernetRepr(destination: to, source: from, etherType: type).emit(into: buffer)
        for (index, byte) in payload.enumerated() { buffer[14 + index] = byte }
    }
    return frame
}

private func arp(_ operation: ARPOperation, senderMAC: MACAddress = peerMAC, sender: IPv4Address = peerIP,
                 targetMAC: MACAddress = .zero, target: IPv4Address = guestIP) -> [UInt8] {
    let repr = ARPRepr(operation: operation, senderHardwareAddress: senderMAC, senderProtocolAddress: sender,
                       targetHardwareAddress: targetMAC, targetProtocolAddress: target)
    var bytes = [UInt8](repeating: 0, count: repr.bufferLength)
    bytes.withUnsafeMutableBytes { repr.emit(into: $0) }
    return bytes
}

private func ipv4(from source: IPv4Address = peerIP, to destination: IPv4Address = guestIP, proto: IPProtocol,
                  payload: [UInt8], moreFragments: Bool = false) -> [UInt8] {
    let repr = IPv4Repr(source: source, destination: destination, proto: proto, payloadLength: payload.count,
                        moreFragments: moreFragments)
    var bytes = [UInt8](repeating: 0, count: repr.bufferLength)
    bytes.withUnsafeMutableBytes { buffer in
        repr.emit(into: buffer)
        for (index, byte) in payload.enumerated() { buffer[20 + index] = byte }
    }
    return bytes
}

private func echoRequest(sequence: UInt16, data: [UInt8]) -> [UInt8] {
    data.withUnsafeBytes { data in
        let repr = ICMPv4Repr.echoRequest(identifier: 0x1234, sequence: sequence, data: data)
        var bytes = [UInt8](repeating: 0, count: repr.bufferLength)
        bytes.withUnsafeMutableBytes { repr.emit(into: $0) }
        return bytes
    }
}

private func udp(from sourcePort: UInt16, to port: UInt16, _ payload: [UInt8], source: IPv4Address = peerIP) -> [UInt8] {
    let repr = UDPRepr(sourcePort: sourcePort, destinationPort: port, payloadLength: payload.count)
    var bytes = [UInt8](repeating: 0, count: repr.bufferLength)
    bytes.withUnsafeMutableBytes { buffer in
        payload.withUnsafeBytes { repr.emit(into: buffer, payload: $0, source: source, destination: guestIP) }
    }
    return bytes
}

private func parse(_ frame: [UInt8]) -> (EthernetRepr, [UInt8])? {
    frame.withUnsafeBytes { bytes in
        guard let ethernet = try? EthernetFrame(checking: bytes), let repr = try? EthernetRepr.parse(ethernet) else { return nil }
        return (repr, Array(ethernet.payload))
    }
}

@Suite struct NetworkStackTests {
    @Test func announcesItsAddressOnce() throws {
        let link = MemoryLink(mac: guestMAC)
        let stack = NetworkStack(device: link, configuration: NetworkConfiguration(
            mode: .manual(IPv4Subnet(address: guestIP, prefixLength: 24))))
        stack.poll(now: 0)
        stack.poll(now: 1)
        let sent = link.take()
        #expect(sent.count == 1)
        let (header, payload) = try #require(parse(sent[0]))
        #expect(header.destination == .broadcast && header.etherType == .arp)
        let announcement = try payload.withUnsafeBytes { try ARPRepr.parse(bytes: $0) }
        #expect(announcement.senderProtocolAddress == guestIP && announcement.targetProtocolAddress == guestIP)
    }

    @Test func answersARPRequestsForItsAddressOnly() throws {
        let (stack, link) = makeStack()
        link.inbound = [ethernet(to: .broadcast, type: .arp, arp(.request)),
                        ethernet(to: .broadcast, type: .arp, arp(.request, target: IPv4Address(10, 0, 0, 99)))]
        stack.poll(now: 1)
        let sent = link.take()
        #expect(sent.count == 1)
        let (header, payload) = try #require(parse(sent[0]))
        #expect(header.destination == peerMAC && header.etherType == .arp)
        let reply = try payload.withUnsafeBytes { try ARPRepr.parse(bytes: $0) }
        #expect(reply == ARPRepr(operation: .reply, senderHardwareAddress: guestMAC, senderProtocolAddress: guestIP,
                                 targetHardwareAddress: peerMAC, targetProtocolAddress: peerIP))
    }

    @Test func repliesToPingWithTheSameData() throws {
        let (stack, link) = makeStack()
        link.inbound = [ethernet(type: .arp, arp(.request)),
                        ethernet(type: .ipv4, ipv4(proto: .icmp, payload: echoRequest(sequence: 7, data: Array(0..<56))))]
        stack.poll(now: 1)
        let sent = link.take()
        #expect(sent.count == 2)  // ARP reply, then the echo reply (peer's MAC learned from its request)
        let (header, payload) = try #require(parse(sent[1]))
        #expect(header.destination == peerMAC && header.etherType == .ipv4)
        try payload.withUnsafeBytes { bytes in
            let packet = try IPv4Packet(checking: bytes)
            let ip = try IPv4Repr.parse(packet)
            #expect(ip.source == guestIP && ip.destination == peerIP && ip.proto == .icmp)
            guard case .echoReply(let identifier, let sequence, let data) = try ICMPv4Repr.parse(bytes: packet.payload) else {
                Issue.record("not an echo reply"); return
            }
            #expect(identifier == 0x1234 && sequence == 7 && Array(data) == Array(0..<56))
        }
        #expect(stack.statistics.echoRepliesSent == 1)
    }

    @Test func firstPacketToANewPeerWaitsForARPThenGoes() throws {
        let (stack, link) = makeStack()
        let socket = try stack.bindUDP(port: 7)
        try [UInt8]([1, 2, 3]).withUnsafeBytes { try socket.send($0, to: peerIP, port: 9000, now: 1) }
        stack.poll(now: 1)
        var sent = link.take()
        #expect(sent.count == 1)
        #expect(parse(sent[0])?.0.etherType == .arp)
        link.inbound = [ethernet(type: .arp, arp(.reply, targetMAC: guestMAC))]
        stack.poll(now: 2)
        sent = link.take()
        #expect(sent.count == 1)
        let (header, payload) = try #require(parse(sent[0]))
        #expect(header.destination == peerMAC && header.etherType == .ipv4)
        try payload.withUnsafeBytes { bytes in
            let packet = try IPv4Packet(checking: bytes)
            let datagram = try UDPDatagram(checking: packet.payload)
            #expect(datagram.destinationPort == 9000 && Array(datagram.payload) == [1, 2, 3])
            #expect(datagram.isChecksumValid(source: guestIP, destination: peerIP))
        }
    }

    @Test func offLinkTrafficGoesToTheGatewayAndUnansweredARPGivesUp() throws {
        let (stack, link) = makeStack()
        let socket = try stack.bindUDP(port: 7)
        try [UInt8]([9]).withUnsafeBytes { try socket.send($0, to: remoteIP, port: 53, now: 0) }
        stack.poll(now: 0)
        let request = try #require(link.take().first.flatMap(parse))
        let asked = try request.1.withUnsafeBytes { try ARPRepr.parse(bytes: $0) }
        #expect(asked.targetProtocolAddress == peerIP, "off-link: resolve the gateway, not the destination")
        var requests = 1
        var now: UInt64 = 0
        for _ in 0..<10 {
            now += 1_000_000_000
            stack.poll(now: now)
            requests += link.take().count
        }
        #expect(requests == ARPCache.Configuration().maximumRequests)
        #expect(stack.arp.droppedPackets == 1)
        #expect(stack.pollAt() == nil)
    }

    @Test func udpDeliveryAndPortUnreachable() throws {
        let (stack, link) = makeStack()
        let socket = try stack.bindUDP(port: 7)
        #expect(throws: NetworkStack.SocketError.portInUse) { _ = try stack.bindUDP(port: 7) }
        link.inbound = [ethernet(type: .arp, arp(.request)),
                        ethernet(type: .ipv4, ipv4(proto: .udp, payload: udp(from: 5555, to: 7, Array("hi".utf8)))),
                        ethernet(type: .ipv4, ipv4(proto: .udp, payload: udp(from: 5555, to: 8, [1])))]
        stack.poll(now: 1)
        let datagram = try #require(socket.receive())
        #expect(datagram == UDPSocket.Datagram(source: peerIP, sourcePort: 5555, payload: Array("hi".utf8)))
        #expect(socket.receive() == nil)
        let sent = link.take()
        #expect(sent.count == 2)
        let unreachable = try #require(parse(sent[1]))
        try unreachable.1.withUnsafeBytes { bytes in
            let packet = try IPv4Packet(checking: bytes)
            guard case .destinationUnreachable(let code, _) = try ICMPv4Repr.parse(bytes: packet.payload) else {
                Issue.record("expected port unreachable"); return
            }
            #expect(code == ICMPv4Repr.UnreachableCode.port)
        }
    }

    @Test func receiveQueueIsBounded() throws {
        let (stack, link) = makeStack()
        let socket = try stack.bindUDP(port: 7, queueLimit: 4)
        link.inbound = (0..<10).map { ethernet(type: .ipv4, ipv4(proto: .udp, payload: udp(from: 1, to: 7, [UInt8($0)]))) }
        stack.poll(now: 1)
        var received = 0
        while socket.receive() != nil { received += 1 }
        #expect(received == 4)
        #expect(socket.dropped == 6)
    }

    @Test func badInputIsCountedAndDropped() throws {
        let (stack, link) = makeStack()
        var corrupt = ipv4(proto: .icmp, payload: echoRequest(sequence: 1, data: [1, 2]))
        corrupt[10] ^= 0xFF  // header checksum
        link.inbound = [
            [1, 2, 3],                                                             // runt
            ethernet(type: .ipv4, corrupt),
            ethernet(type: .ipv4, ipv4(proto: .udp, payload: udp(from: 1, to: 7, [1]), moreFragments: true)),
            ethernet(to: MACAddress(2, 9, 9, 9, 9, 9), type: .ipv4, ipv4(proto: .icmp, payload: echoRequest(sequence: 1, data: []))),
            ethernet(type: .ipv4, ipv4(to: IPv4Address(10, 0, 0, 50), proto: .icmp, payload: echoRequest(sequence: 1, data: []))),
        ]
        stack.poll(now: 1)
        #expect(link.take().isEmpty)
        #expect(stack.statistics.malformed == 2)
        #expect(stack.statistics.fragmentsDropped == 1)
        #expect(stack.statistics.notForUs == 2)
    }

    @Test func randomFramesNeverTrap() {
        let (stack, link) = makeStack()
        var random = SplitMix64(seed: 0xABCDEF)
        for round in 0..<2000 {
            let length = Int(random.next() % 120)
            var frame = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if frame.count >= 14 && round % 2 == 0 {  // steer half of them past the Ethernet checks
                guestMAC.bytesArray.enumerated().forEach { frame[$0.offset] = $0.element }
                frame[12] = round % 4 == 0 ? 0x08 : 0x08; frame[13] = round % 4 == 0 ? 0x00 : 0x06
                if frame.count > 14 && round % 4 == 0 { frame[14] = 0x45 }
            }
            link.inbound = [frame]
            stack.poll(now: UInt64(round))
            _ = link.take()
        }
        #expect(stack.statistics.framesReceived == 2000)
    }
}

private extension MACAddress {
    var bytesArray: [UInt8] { [bytes.0, bytes.1, bytes.2, bytes.3, bytes.4, bytes.5] }
}

// MARK: - Floods: state stays bounded and service degrades, never breaks

private func tcp(from port: UInt16, to destination: UInt16, flags: TCPFlags, sequence: UInt32 = 1000,
                 ack: UInt32 = 0, source: IPv4Address = peerIP, payload: [UInt8] = []) -> [UInt8] {
    let repr = TCPSegmentRepr(sourcePort: port, destinationPort: destination, sequenceNumber: TCPSequenceNumber(sequence),
                              acknowledgmentNumber: TCPSequenceNumber(ack), flags: flags, window: 65535)
    var bytes = [UInt8](repeating: 0, count: repr.headerLength + payload.count)
    bytes.withUnsafeMutableBytes { buffer in
        payload.withUnsafeBytes { _ = try? repr.emit(into: buffer, payload: $0, source: source, destination: guestIP) }
    }
    return bytes
}

@Suite struct NetworkFloodTests {
    @Test func synFloodKeepsHalfOpenStateBoundedAndServiceAlive() throws {
        let (stack, link) = makeStack()
        let listener = try stack.listenTCP(port: 80, backlog: 16)
        let second: UInt64 = 1_000_000_000
        link.inbound = [ethernet(type: .arp, arp(.request))]   // the peer's MAC is known
        for port in 0..<2000 {
            link.inbound.append(ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(from: UInt16(10000 + port), to: 80, flags: .syn))))
            if link.inbound.count == 64 { stack.poll(now: UInt64(port)); _ = link.take() }
        }
        stack.poll(now: 3000)
        _ = link.take()
        #expect(stack.tcp.connectionCount <= 16, "half-open connections must stay within the backlog")
        // Within an initial RTO a half-open entry may still be a real client's: the flood's
        // later SYNs are dropped rather than evicting it.
        #expect(listener.evictedHalfOpen == 0 && listener.droppedSyns == 2000 - 16)

        // The flood goes on past the initial RTO: its new SYNs replace the stale entries, state
        // stays bounded, and a real client still gets through.
        for port in 2000..<2100 {
            link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(from: UInt16(10000 + port), to: 80, flags: .syn)))]
            stack.poll(now: 2 * second + UInt64(port))
            _ = link.take()
        }
        #expect(stack.tcp.connectionCount <= 16)
        #expect(listener.evictedHalfOpen >= 16)
        link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(from: 4242, to: 80, flags: .syn, sequence: 77)))]
        stack.poll(now: 4 * second)
        // (The stale entries' SYN-ACK retransmissions go out in the same turn.)
        let reply = try #require(try NetworkTimeWaitTests.segmentsSent(link).first { $0.destinationPort == 4242 })
        #expect(reply.flags.contains(.syn) && reply.flags.contains(.ack))
        link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(
            from: 4242, to: 80, flags: .ack, sequence: 78, ack: reply.sequenceNumber.rawValue &+ 1)))]
        stack.poll(now: 4 * second + 1)
        #expect(listener.accept() != nil, "the handshake of a real client completes during the flood")
    }

    @Test func connectionCapHoldsWhenClientsNeverLeave() throws {
        let link = MemoryLink(mac: guestMAC)
        var settings = TCPSettings()
        settings.maximumConnections = 8
        let stack = NetworkStack(device: link, configuration: NetworkConfiguration(
            mode: .manual(IPv4Subnet(address: guestIP, prefixLength: 24)), gateway: peerIP), tcp: settings)
        let listener = try stack.listenTCP(port: 80, backlog: 100)
        link.inbound = [ethernet(type: .arp, arp(.request))]   // the peer's MAC is known
        stack.poll(now: 0)
        _ = link.take()
        for port in 0..<50 {
            link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(from: UInt16(20000 + port), to: 80, flags: .syn, sequence: 5)))]
            stack.poll(now: UInt64(port + 1))
            guard let synAck = link.take().compactMap(parse).first(where: { $0.0.etherType == .ipv4 }) else { continue }
            let reply = try synAck.1.withUnsafeBytes { bytes in
                try TCPSegmentRepr.parse(try IPv4Packet(checking: bytes).payload, source: guestIP, destination: peerIP).repr
            }
            link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(
                from: UInt16(20000 + port), to: 80, flags: .ack, sequence: 6, ack: reply.sequenceNumber.rawValue &+ 1)))]
            stack.poll(now: UInt64(port + 1))
            _ = link.take()
        }
        var accepted = 0
        while listener.accept() != nil { accepted += 1 }
        #expect(accepted == 8)
        #expect(stack.tcp.connectionCount == 8)
        #expect(stack.tcp.refusedForCapacity > 0)
    }
}

/// Servers close first, so they collect TIME-WAIT: those must not hold buffers, count
/// against the connection cap, or block a client that reuses its port.
@Suite struct NetworkTimeWaitTests {
    static func makeStack(maximumConnections: Int = 4, maximumTimeWait: Int = 2048) -> (NetworkStack, MemoryLink, TCPListener) {
        let link = MemoryLink(mac: guestMAC)
        var settings = TCPSettings()
        settings.maximumConnections = maximumConnections
        settings.maximumTimeWait = maximumTimeWait
        let stack = NetworkStack(device: link, configuration: NetworkConfiguration(
            mode: .manual(IPv4Subnet(address: guestIP, prefixLength: 24)), gateway: peerIP), tcp: settings)
        let listener = try! stack.listenTCP(port: 80, backlog: 100)
        link.inbound = [ethernet(type: .arp, arp(.request))]
        stack.poll(now: 0)
        _ = link.take()
        return (stack, link, listener)
    }

    static func segmentsSent(_ link: MemoryLink) throws -> [TCPSegmentRepr] {
        try link.take().compactMap(parse).filter { $0.0.etherType == .ipv4 }.map { frame in
            try frame.1.withUnsafeBytes { bytes in
                try TCPSegmentRepr.parse(try IPv4Packet(checking: bytes).payload, source: guestIP, destination: peerIP).repr
            }
        }
    }

    /// Handshake from `port` with initial sequence `sequence`; the accepted stream, if any.
    static func connect(_ stack: NetworkStack, _ link: MemoryLink, _ listener: TCPListener, port: UInt16,
                        sequence: UInt32, now: UInt64) throws -> TCPStream? {
        link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(from: port, to: 80, flags: .syn, sequence: sequence)))]
        stack.poll(now: now)
        guard let synAck = try segmentsSent(link).first(where: { $0.flags.contains(.syn) }) else { return nil }
        link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(
            from: port, to: 80, flags: .ack, sequence: sequence &+ 1, ack: synAck.sequenceNumber.rawValue &+ 1)))]
        stack.poll(now: now)
        _ = link.take()
        return listener.accept()
    }

    /// The server closes; the client acknowledges and closes too: the server is in TIME-WAIT.
    static func closeFromServer(_ stack: NetworkStack, _ link: MemoryLink, _ stream: TCPStream, port: UInt16,
                                sequence: UInt32, now: UInt64) throws {
        stream.close()
        stack.transmitPending(now: now)
        let fin = try #require(try segmentsSent(link).first { $0.flags.contains(.fin) })
        link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(
            from: port, to: 80, flags: [.fin, .ack], sequence: sequence &+ 1, ack: fin.sequenceNumber.rawValue &+ 1)))]
        stack.poll(now: now)
        _ = link.take()
    }

    @Test func timeWaitHoldsNoBuffersAndDoesNotCountAgainstTheCap() throws {
        let (stack, link, listener) = Self.makeStack(maximumConnections: 4)
        for index in 0..<20 {
            let port = UInt16(30000 + index)
            weak let stream = try Self.connect(stack, link, listener, port: port, sequence: 100, now: UInt64(index + 1))
            try Self.closeFromServer(stack, link, try #require(stream), port: port, sequence: 100, now: UInt64(index + 1))
            #expect(stream == nil, "the stack keeps a small record, not the stream and its buffers")
            let key = TCPFourTuple(localPort: 80, remoteAddress: peerIP, remotePort: port)
            #expect(stack.tcp.timeWait[key]?.receiveNext == TCPSequenceNumber(102), "past the client's FIN")
        }
        stack.poll(now: 100)
        #expect(stack.tcp.timeWaitCount == 20)
        #expect(stack.tcp.activeConnectionCount == 0)
        #expect(stack.tcp.refusedForCapacity == 0)
    }

    @Test func dataThatArrivesWithTheClosingFINFreesItsBufferOnceRead() throws {
        let (stack, link, listener) = Self.makeStack(maximumConnections: 4)
        let stream = try #require(try Self.connect(stack, link, listener, port: 30000, sequence: 100, now: 1))
        stream.close()
        stack.transmitPending(now: 1)
        let fin = try #require(try Self.segmentsSent(link).first { $0.flags.contains(.fin) })
        // The client's last bytes and its FIN in one segment: TIME-WAIT before the server reads.
        link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(
            from: 30000, to: 80, flags: [.fin, .ack, .psh], sequence: 101, ack: fin.sequenceNumber.rawValue &+ 1,
            payload: Array("late".utf8))))]
        stack.poll(now: 2)
        _ = link.take()
        #expect(stack.tcp.timeWaitCount == 1 && stack.tcp.activeConnectionCount == 0)
        #expect(stream.state == .closed, "the connection lives on in the TIME-WAIT table, not in the stream")
        #expect(stream.isAtEnd == false && stream.read(maximum: 64) == Array("late".utf8), "unread data stays readable")
        #expect(stream.isAtEnd)
    }

    /// A client that acknowledges the server's FIN but never sends its own must not hold the
    /// connection's buffers for good once the application has let go of it; one the
    /// application still holds (a half-close it reads from) waits as long as the peer likes.
    @Test func anOrphanedConnectionInFinWait2EndsAfterTheFinTimeout() throws {
        let (stack, link, listener) = Self.makeStack(maximumConnections: 4)
        var kept: TCPStream?
        for (index, port) in [UInt16(30000), 30001].enumerated() {
            let now = UInt64(1 + 2 * index)  // the first stream is the stack's alone from now 3 on
            let stream = try #require(try Self.connect(stack, link, listener, port: port, sequence: 100, now: now))
            stream.close()
            stack.transmitPending(now: now)
            let fin = try #require(try Self.segmentsSent(link).first { $0.flags.contains(.fin) })
            link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(
                from: port, to: 80, flags: .ack, sequence: 101, ack: fin.sequenceNumber.rawValue &+ 1)))]
            stack.poll(now: now + 1)
            #expect(stream.state == .finWait2)
            if port == 30001 { kept = stream }
        }
        stack.poll(now: 3 + 60 * tcpSecond - 1)
        #expect(stack.tcp.activeConnectionCount == 2, "not before the timeout")
        stack.poll(now: 3 + 60 * tcpSecond)
        #expect(stack.tcp.activeConnectionCount == 1)
        #expect(stack.tcp.streams[TCPFourTuple(localPort: 80, remoteAddress: peerIP, remotePort: 30001)] != nil,
                "the stream the application holds stays")
        #expect(try Self.segmentsSent(link).isEmpty, "ended silently, as Linux's orphans")
        #expect(kept?.state == .finWait2)
    }

    @Test func pastTheTimeWaitLimitTheOldestAreForgotten() throws {
        let (stack, link, listener) = Self.makeStack(maximumConnections: 4, maximumTimeWait: 3)
        for index in 0..<10 {
            let port = UInt16(31000 + index)
            let stream = try #require(try Self.connect(stack, link, listener, port: port, sequence: 100, now: UInt64(index + 1)))
            try Self.closeFromServer(stack, link, stream, port: port, sequence: 100, now: UInt64(index + 1))
        }
        stack.poll(now: 100)
        #expect(stack.tcp.timeWaitCount == 3)
        #expect(stack.tcp.connectionCount == 3)
        #expect(stack.tcp.timeWaitForgotten == 7)
        let remaining = stack.tcp.timeWait.map { $0.key.remotePort }.sorted()
        #expect(remaining == [31007, 31008, 31009], "the newest stay")
    }

    @Test func theTimeWaitRecordAcknowledgesARetransmittedFINAndRestartsTheWait() throws {
        let (stack, link, listener) = Self.makeStack()
        let second: UInt64 = 1_000_000_000
        let stream = try #require(try Self.connect(stack, link, listener, port: 33000, sequence: 100, now: 1))
        stream.close()
        stack.transmitPending(now: 1)
        let fin = try #require(try Self.segmentsSent(link).first { $0.flags.contains(.fin) })
        let clientFIN = ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(
            from: 33000, to: 80, flags: [.fin, .ack], sequence: 101, ack: fin.sequenceNumber.rawValue &+ 1)))
        link.inbound = [clientFIN]
        stack.poll(now: 1)
        let firstAck = try #require(try Self.segmentsSent(link).first)
        let key = TCPFourTuple(localPort: 80, remoteAddress: peerIP, remotePort: 33000)
        #expect(stack.tcp.timeWait[key]?.expiresAt == 1 + 60 * second)

        // Our ACK of its FIN was lost: the client sends the FIN again, 10 s later.
        link.inbound = [clientFIN]
        stack.poll(now: 10 * second)
        let again = try Self.segmentsSent(link)
        #expect(again.count == 1)
        let ack = try #require(again.first)
        #expect(ack.flags == firstAck.flags && ack.sequenceNumber == firstAck.sequenceNumber
                && ack.acknowledgmentNumber == firstAck.acknowledgmentNumber && ack.window == firstAck.window,
                "the record answers as the connection itself did")
        #expect(firstAck.flags == .ack && firstAck.acknowledgmentNumber == TCPSequenceNumber(102)
                && firstAck.sequenceNumber == fin.sequenceNumber + 1)
        #expect(stack.tcp.timeWait[key]?.expiresAt == 70 * second, "2 MSL from the retransmitted FIN")
        stack.poll(now: 61 * second)
        #expect(stack.tcp.timeWaitCount == 1)

        // An exact reset ends TIME-WAIT at once (RFC 9293 §3.10.7.4).
        link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(from: 33000, to: 80, flags: .rst, sequence: 102)))]
        stack.poll(now: 62 * second)
        #expect(try Self.segmentsSent(link).isEmpty)
        #expect(stack.tcp.timeWaitCount == 0)
    }

    @Test func aNewSynReopensAPortInTimeWait() throws {
        let (stack, link, listener) = Self.makeStack()
        let first = try #require(try Self.connect(stack, link, listener, port: 32000, sequence: 100, now: 1))
        try Self.closeFromServer(stack, link, first, port: 32000, sequence: 100, now: 1)
        #expect(stack.tcp.timeWaitCount == 1)
        // An old duplicate SYN (below the old connection's sequence space) does not reopen it.
        #expect(try Self.connect(stack, link, listener, port: 32000, sequence: 50, now: 2) == nil)
        let second = try #require(try Self.connect(stack, link, listener, port: 32000, sequence: 5000, now: 3))
        #expect(second.state == .established)
        #expect(second !== first)
    }
}

/// Bursts of well-behaved clients larger than a listener's queues: every one of them is
/// served in the end, and none is ever answered with a reset (Linux's behaviour).
@Suite struct NetworkListenQueueTests {
    static let second: UInt64 = 1_000_000_000

    /// A stack whose listener on port 80 has queues of `backlog`.
    static func makeStack(backlog: Int) -> (NetworkStack, MemoryLink, TCPListener) {
        let (stack, link, _) = NetworkTimeWaitTests.makeStack(maximumConnections: 64)
        stack.closeListener(stack.tcp.listeners[80]!)
        let listener = try! stack.listenTCP(port: 80, backlog: backlog)
        return (stack, link, listener)
    }

    static func segment(from port: UInt16, _ flags: TCPFlags, sequence: UInt32, ack: UInt32 = 0,
                        _ payload: String = "") -> [UInt8] {
        ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(from: port, to: 80, flags: flags, sequence: sequence, ack: ack,
                                                            payload: Array(payload.utf8))))
    }

    /// Feeds `frames` at `now`; returns what the stack sent back.
    static func exchange(_ stack: NetworkStack, _ link: MemoryLink, _ frames: [[UInt8]], now: UInt64) throws -> [TCPSegmentRepr] {
        link.inbound = frames
        stack.poll(now: now)
        return try NetworkTimeWaitTests.segmentsSent(link)
    }

    static func synAcks(_ segments: [TCPSegmentRepr]) -> [UInt16: UInt32] {
        var answers: [UInt16: UInt32] = [:]
        for segment in segments where segment.flags.contains(.syn) && segment.flags.contains(.ack) {
            answers[segment.destinationPort] = segment.sequenceNumber.rawValue
        }
        return answers
    }

    @Test func aSynBurstBeyondTheHalfOpenQueueIsDroppedNotReset() throws {
        let (stack, link, listener) = Self.makeStack(backlog: 4)
        let ports = (0..<10).map { UInt16(40000 + $0) }
        var sent = try Self.exchange(stack, link, ports.map { Self.segment(from: $0, .syn, sequence: 100) }, now: 1)
        #expect(sent.allSatisfy { !$0.flags.contains(.rst) })
        var answered = Self.synAcks(sent)
        #expect(answered.count == 4, "the half-open queue holds 4")
        #expect(listener.droppedSyns == 6 && listener.evictedHalfOpen == 0)

        // The 4 complete their handshakes and are accepted; the others' SYN retransmissions
        // (1 s later, as Linux sends them) now find room.
        let first = ports.filter { answered[$0] != nil }
        sent = try Self.exchange(stack, link, first.map { Self.segment(from: $0, .ack, sequence: 101, ack: answered[$0]! &+ 1) }, now: 2)
        #expect(sent.isEmpty)
        var accepted = 0
        while listener.accept() != nil { accepted += 1 }
        #expect(accepted == 4)
        let rest = ports.filter { answered[$0] == nil }
        sent = try Self.exchange(stack, link, rest.map { Self.segment(from: $0, .syn, sequence: 100) }, now: Self.second + 1)
        answered = Self.synAcks(sent)
        #expect(answered.count == 4 && sent.allSatisfy { !$0.flags.contains(.rst) })
        #expect(listener.evictedHalfOpen == 0)
    }

    @Test func theHandshakeCompletingAckWaitsWhileTheAcceptQueueIsFull() throws {
        let (stack, link, listener) = Self.makeStack(backlog: 2)
        // A and B complete their handshakes; nobody accepts them: the accept queue is full.
        var answered = Self.synAcks(try Self.exchange(stack, link, [Self.segment(from: 1001, .syn, sequence: 100),
                                                                    Self.segment(from: 1002, .syn, sequence: 100)], now: 1))
        _ = try Self.exchange(stack, link, [Self.segment(from: 1001, .ack, sequence: 101, ack: answered[1001]! &+ 1),
                                            Self.segment(from: 1002, .ack, sequence: 101, ack: answered[1002]! &+ 1)], now: 2)
        #expect(listener.ready.count == 2)
        // A new SYN is dropped while the accept queue is full (Linux does the same).
        var sent = try Self.exchange(stack, link, [Self.segment(from: 1003, .syn, sequence: 100)], now: 3)
        #expect(sent.isEmpty && listener.acceptQueueOverflows == 1)
        // One is accepted: C gets in, but the ACK and request completing its handshake arrive
        // when the queue is full again (D got there first): they are dropped, C stays in
        // SYN-RECEIVED, and nothing (no RST) is sent.
        #expect(listener.accept() != nil)
        answered = Self.synAcks(try Self.exchange(stack, link, [Self.segment(from: 1003, .syn, sequence: 100),
                                                                Self.segment(from: 1004, .syn, sequence: 100)], now: 4))
        _ = try Self.exchange(stack, link, [Self.segment(from: 1004, .ack, sequence: 101, ack: answered[1004]! &+ 1)], now: 5)
        let request = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        let ack = answered[1003]! &+ 1
        sent = try Self.exchange(stack, link, [Self.segment(from: 1003, [.ack, .psh], sequence: 101, ack: ack, request)], now: 6)
        #expect(sent.isEmpty, "no RST, no ACK: the client will send it again")
        #expect(listener.acceptQueueOverflows == 2)
        let waiting = try #require(stack.tcp.streams.first { $0.value.remote.port == 1003 }?.value)
        #expect(waiting.state == .synReceived)

        // Our SYN-ACK is retransmitted at the initial RTO; once the application has accepted,
        // the client's retransmitted request completes the handshake and is delivered whole.
        sent = try Self.exchange(stack, link, [], now: Self.second + 4)
        #expect(sent.count == 1 && sent[0].destinationPort == 1003 && sent[0].flags.contains(.syn))
        while listener.accept() != nil {}
        sent = try Self.exchange(stack, link, [Self.segment(from: 1003, [.ack, .psh], sequence: 101, ack: ack, request)],
                                 now: Self.second + 5)
        #expect(sent.allSatisfy { !$0.flags.contains(.rst) })
        let stream = try #require(listener.accept())
        #expect(stream.remote.port == 1003 && stream.state == .established)
        #expect(String(decoding: stream.read(), as: UTF8.self) == request)
    }

    @Test func anEstablishedConnectionIsNeverEvictedForANewSyn() throws {
        // The cause of resets under `wrk -c200 -H 'Connection: close'`: a connection whose ACK
        // and request arrived in the same batch as newer SYNs was still counted half-open, was
        // evicted as the oldest, and its request was answered with RST.
        let (stack, link, listener) = Self.makeStack(backlog: 2)
        let answered = Self.synAcks(try Self.exchange(stack, link, [Self.segment(from: 2001, .syn, sequence: 100),
                                                                    Self.segment(from: 2002, .syn, sequence: 100)], now: 1))
        let request = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        let sent = try Self.exchange(stack, link, [
            Self.segment(from: 2001, [.ack, .psh], sequence: 101, ack: answered[2001]! &+ 1, request),
            Self.segment(from: 2003, .syn, sequence: 100),
            Self.segment(from: 2004, .syn, sequence: 100),   // the queue is full: 2002 is stale, so it goes
        ], now: 2 * Self.second)
        #expect(sent.allSatisfy { !$0.flags.contains(.rst) }, "\(sent)")
        #expect(Set(Self.synAcks(sent).keys) == [2003, 2004])
        #expect(listener.evictedHalfOpen == 1)
        let stream = try #require(listener.accept())
        #expect(stream.remote.port == 2001 && String(decoding: stream.read(), as: UTF8.self) == request)
        #expect(listener.accept() == nil)
    }

    @Test func aSynIsDroppedNotServedWhenTheHeapHasNoRoomForItsBuffers() throws {
        final class Room: @unchecked Sendable { var available = false }
        let room = Room()
        let link = MemoryLink(mac: guestMAC)
        var settings = TCPSettings()
        settings.heapHasRoomForConnection = { room.available }
        let stack = NetworkStack(device: link, configuration: NetworkConfiguration(
            mode: .manual(IPv4Subnet(address: guestIP, prefixLength: 24)), gateway: peerIP), tcp: settings)
        let listener = try stack.listenTCP(port: 80, backlog: 16)
        var sent = try Self.exchange(stack, link, [ethernet(type: .arp, arp(.request)), Self.segment(from: 3001, .syn, sequence: 100)], now: 1)
        #expect(sent.isEmpty, "no SYN-ACK, and no RST either: the client retransmits")
        #expect(stack.tcp.refusedForMemory == 1 && listener.droppedSyns == 1 && stack.tcp.activeConnectionCount == 0)
        room.available = true
        sent = try Self.exchange(stack, link, [Self.segment(from: 3001, .syn, sequence: 100)], now: Self.second + 1)
        #expect(sent.count == 1 && sent[0].flags == [.syn, .ack])
    }

    @Test func connectionsAndListenQueuesAreSizedToTheHeap() throws {
        var settings = TCPSettings()
        settings.sendBuffer = 16 * 1024
        settings.receiveBuffer = 8 * 1024
        settings.fitBuffers(in: 12 << 20)   // what the guest gives TCP of a 32 MiB machine, roughly
        #expect(settings.maximumConnections == 512 && settings.maximumBacklog == 512)
        let stack = NetworkStack(device: MemoryLink(mac: guestMAC), configuration: NetworkConfiguration(
            mode: .manual(IPv4Subnet(address: guestIP, prefixLength: 24))), tcp: settings)
        #expect(try stack.listenTCP(port: 80, backlog: 100_000).backlog == 512)
        #expect(try stack.listenTCP(port: 81, backlog: 16).backlog == 16)
        var large = TCPSettings()
        large.fitBuffers(in: 1 << 40)
        #expect(large.maximumConnections == 1024 && large.maximumBacklog == 1024)
        #expect(TCPSettings().maximumBacklog == 4096, "Linux's somaxconn")
    }
}

@Suite struct NetworkDNSTests {
    @Test func resolvesThroughTheConfiguredServer() throws {
        let link = MemoryLink(mac: guestMAC)
        let stack = NetworkStack(device: link, configuration: NetworkConfiguration(
            mode: .manual(IPv4Subnet(address: guestIP, prefixLength: 24)), gateway: peerIP, dnsServers: [peerIP]))
        link.inbound = [ethernet(type: .arp, arp(.request))]   // the server's MAC is known
        stack.poll(now: 0)
        _ = link.take()

        #expect(stack.resolve("swiftlet.example", now: 1) == nil)
        stack.transmitPending(now: 1)
        let sent = link.take().compactMap(parse).filter { $0.0.etherType == .ipv4 }
        let (query, queryPort) = try #require(sent.first).1.withUnsafeBytes { bytes in
            let packet = try IPv4Packet(checking: bytes)
            #expect(packet.destination == peerIP)
            let datagram = try UDPDatagram(checking: packet.payload)
            #expect(datagram.destinationPort == 53)
            return (Array(datagram.payload), datagram.sourcePort)
        }
        // The answer: the query with QR set and one A record pointing back at the question's name.
        var answer = query
        answer[2] |= 0x80
        answer[7] = 1
        answer += [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0x0E, 0x10, 0, 4, 192, 0, 2, 7]
        link.inbound = [ethernet(type: .ipv4, ipv4(proto: .udp, payload: udp(from: 53, to: queryPort, answer)))]
        stack.poll(now: 2)
        #expect(stack.resolution == .resolved([IPv4Address(192, 0, 2, 7)], ttl: 3600))
        #expect(stack.resolve("swiftlet.example", now: 3) == .resolved([IPv4Address(192, 0, 2, 7)], ttl: 3600),
                "a second lookup comes from the cache")
    }

    @Test func noServersFailsAtOnce() {
        let (stack, _) = makeStack()
        #expect(stack.resolve("swiftlet.example", now: 1) == .failed(.noServers))
    }
}

@Suite struct NetworkActiveOpenTests {
    @Test func connectCompletesTheHandshakeAndCarriesData() throws {
        let (stack, link) = makeStack()
        link.inbound = [ethernet(type: .arp, arp(.request))]   // the peer's MAC is known
        stack.poll(now: 1)
        _ = link.take()
        let stream = try stack.connectTCP(to: TCPEndpoint(address: peerIP, port: 8080), now: 2)
        stack.transmitPending(now: 2)
        func segments() throws -> [TCPSegmentRepr] {
            try link.take().compactMap(parse).filter { $0.0.etherType == .ipv4 }.map { frame in
                try frame.1.withUnsafeBytes { bytes in
                    try TCPSegmentRepr.parse(try IPv4Packet(checking: bytes).payload, source: guestIP, destination: peerIP).repr
                }
            }
        }
        let syn = try #require(try segments().first)
        #expect(syn.flags == .syn && syn.destinationPort == 8080)
        link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(
            from: 8080, to: syn.sourcePort, flags: [.syn, .ack], sequence: 5000, ack: syn.sequenceNumber.rawValue &+ 1)))]
        stack.poll(now: 3)
        #expect(stream.state == .established)
        #expect(stream.write(Array("GET".utf8)) == 3)
        stack.transmitPending(now: 4)
        let sent = try segments()
        #expect(sent.contains { $0.flags.contains(.psh) || $0.flags.contains(.ack) })
        link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(
            from: 8080, to: syn.sourcePort, flags: [.ack, .psh], sequence: 5001,
            ack: syn.sequenceNumber.rawValue &+ 4, payload: Array("OK".utf8))))]
        stack.poll(now: 5)
        #expect(stream.read() == Array("OK".utf8))
    }
}

// MARK: - What passt accepts: frames as long as their packet, windows above 64 KiB

/// passt (Debian's 2023-03 build) drops any frame whose IPv4 total length is not the frame's
/// length minus the Ethernet header. Padded to Ethernet's 60-byte minimum, every pure ACK
/// (54 bytes) and window update was lost, and one-way transfers through `-p` wedged.
@Suite struct PasstCompatibilityTests {
    private static func tcpSegment(_ frame: [UInt8]) throws -> TCPSegmentRepr {
        try frame.withUnsafeBytes { bytes in
            let packet = try IPv4Packet(checking: try EthernetFrame(checking: bytes).payload)
            return try TCPSegmentRepr.parse(packet.payload, source: guestIP, destination: peerIP).repr
        }
    }

    /// The frame ends where its IPv4 packet ends (no padding after it).
    private static func ipTotalLength(_ frame: [UInt8]) -> Int { Int(frame[16]) << 8 | Int(frame[17]) }

    @Test func pureAcksAndARPRepliesAreNotPadded() throws {
        let (stack, link) = makeStack()
        let listener = try stack.listenTCP(port: 7)
        link.inbound = [ethernet(type: .arp, arp(.request)),
                        ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(from: 4000, to: 7, flags: .syn, sequence: 100)))]
        stack.poll(now: 1)
        let handshake = link.take()
        #expect(handshake.count == 2)
        #expect(handshake.first?.count == 42, "an ARP reply is 42 bytes on the wire, not 60")
        let synAck = try Self.tcpSegment(try #require(handshake.last))
        link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(
            from: 4000, to: 7, flags: [.ack, .psh], sequence: 101, ack: synAck.sequenceNumber.rawValue &+ 1,
            payload: Array(repeating: 0x41, count: 10))))]
        stack.poll(now: 2)
        _ = try #require(listener.accept())
        stack.poll(now: 2 + 200 * TCPConfiguration.millisecond)  // past the delayed-ACK timeout
        let acks = link.take()
        #expect(acks.count == 1)
        let ack = try #require(acks.first)
        #expect(ack.count == 54, "a pure ACK is 14 + 20 + 20 bytes")
        #expect(ack.count == 14 + Self.ipTotalLength(ack))
        #expect(try Self.tcpSegment(ack).acknowledgmentNumber == TCPSequenceNumber(111))
    }

    /// Behind passt, the host sender's window is ours; a Linux sender on loopback holds
    /// 64 KiB segments and sends one only when the window fits it (or when its zero-window
    /// probe timer splits it, every ~200 ms). The default buffer keeps the window above that.
    @Test func defaultReceiveWindowExceedsALoopbackSegment() throws {
        let (stack, link) = makeStack()
        _ = try stack.listenTCP(port: 7)
        link.inbound = [ethernet(type: .arp, arp(.request)),
                        ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcpWithWindowScale(from: 4000, to: 7)))]
        stack.poll(now: 1)
        let synAck = try Self.tcpSegment(try #require(link.take().last))
        let shift = try #require(synAck.options.windowScale)
        #expect(synAck.flags == [.syn, .ack])
        #expect(Int(synAck.window) << Int(shift) >= 2 * 65536 - (1 << Int(shift)),
                "window \(synAck.window) << \(shift) must cover two 64 KiB segments")
    }

    private func tcpWithWindowScale(from port: UInt16, to destination: UInt16) -> [UInt8] {
        let repr = TCPSegmentRepr(sourcePort: port, destinationPort: destination, sequenceNumber: TCPSequenceNumber(100),
                                  acknowledgmentNumber: TCPSequenceNumber(0), flags: .syn, window: 65535,
                                  options: TCPOptions(maximumSegmentSize: 1460, windowScale: 7))
        var bytes = [UInt8](repeating: 0, count: repr.headerLength)
        bytes.withUnsafeMutableBytes { buffer in
            _ = try? repr.emit(into: buffer, payload: UnsafeRawBufferPointer(start: nil, count: 0), source: peerIP, destination: guestIP)
        }
        return bytes
    }
}

/// A client that connects while the guest is still asking DHCP for its address: passt has
/// accepted the client and sent the guest a SYN it cannot answer yet, and never resends it.
@Suite struct EarlyConnectionTests {
    static func unconfiguredStack() -> (NetworkStack, MemoryLink) {
        let link = MemoryLink(mac: guestMAC)
        let stack = NetworkStack(device: link, configuration: NetworkConfiguration(mode: .dhcp))
        stack.poll(now: 0)
        _ = link.take()   // DHCPDISCOVER
        return (stack, link)
    }

    @Test func aSYNBeforeTheAddressIsAnsweredOnceDHCPGivesIt() throws {
        let (stack, link) = Self.unconfiguredStack()
        let listener = try stack.listenTCP(port: 80)
        // Addressed to a MAC passt guessed: it has not heard from the guest yet.
        let guessedMAC = MACAddress(0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55)
        link.inbound = [ethernet(to: guessedMAC, type: .ipv4, ipv4(proto: .tcp, payload: tcp(from: 5000, to: 80, flags: .syn, sequence: 41)))]
        stack.poll(now: 1)
        #expect(link.take().allSatisfy { frame in parse(frame).map { $0.0.etherType != .ipv4 || frame[23] != 6 } ?? true },
                "no TCP answer without an address")

        stack.configure(subnet: IPv4Subnet(address: guestIP, prefixLength: 24), gateway: peerIP, dnsServers: [])
        stack.poll(now: 2)
        let resolving = link.take().compactMap(parse)
        #expect(resolving.contains { $0.0.etherType == .arp }, "the SYN-ACK waits for the client's MAC")
        link.inbound = [ethernet(type: .arp, arp(.reply, targetMAC: guestMAC))]
        stack.poll(now: 3)
        let answers = try link.take().compactMap(parse).filter { $0.0.etherType == .ipv4 }.map { frame in
            try frame.1.withUnsafeBytes { bytes in
                try TCPSegmentRepr.parse(try IPv4Packet(checking: bytes).payload, source: guestIP, destination: peerIP).repr
            }
        }
        let synAck = try #require(answers.first)
        #expect(synAck.flags == [.syn, .ack] && synAck.acknowledgmentNumber == TCPSequenceNumber(42))
        link.inbound = [ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(
            from: 5000, to: 80, flags: .ack, sequence: 42, ack: synAck.sequenceNumber.rawValue &+ 1)))]
        stack.poll(now: 4)
        #expect(listener.accept() != nil)
    }

    @Test func packetsHeldBeforeTheAddressAreBounded() throws {
        let (stack, link) = Self.unconfiguredStack()
        _ = try stack.listenTCP(port: 80)
        link.inbound = (0..<(NetworkStack.heldPacketLimit + 4)).map { port in
            ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(from: UInt16(6000 + port), to: 80, flags: .syn)))
        }
        stack.poll(now: 1)
        #expect(stack.statistics.heldDropped == 4)
        stack.configure(subnet: IPv4Subnet(address: guestIP, prefixLength: 24), gateway: peerIP, dnsServers: [])
        stack.poll(now: 2)
        #expect(stack.tcp.activeConnectionCount == NetworkStack.heldPacketLimit)
    }

    /// Each held packet keeps what the device said of its checksums: replayed, one the device
    /// vouched for is not verified, one it did not vouch for is, and dropped if it is bad.
    @Test func heldPacketsKeepWhetherTheirChecksumsWereVouchedFor() throws {
        let (stack, link) = Self.unconfiguredStack()
        _ = try stack.listenTCP(port: 80)
        func syn(from port: UInt16, badChecksum: Bool) -> [UInt8] {
            var segment = tcp(from: port, to: 80, flags: .syn)
            if badChecksum { segment[16] ^= 0xFF }      // the TCP checksum's first byte
            return ethernet(type: .ipv4, ipv4(proto: .tcp, payload: segment))
        }
        link.inboundChecksumTrusted = true
        link.inbound = [syn(from: 7000, badChecksum: true), syn(from: 7001, badChecksum: false)]
        stack.poll(now: 1)
        link.inboundChecksumTrusted = false
        link.inbound = [syn(from: 7002, badChecksum: true), syn(from: 7003, badChecksum: false),
                        syn(from: 7004, badChecksum: true)]
        stack.poll(now: 2)
        link.inboundChecksumTrusted = true
        link.inbound = [syn(from: 7005, badChecksum: true)]
        stack.poll(now: 3)
        stack.configure(subnet: IPv4Subnet(address: guestIP, prefixLength: 24), gateway: peerIP, dnsServers: [])
        stack.poll(now: 4)
        let remotePorts = Set(stack.tcp.streams.map { $0.key.remotePort })
        #expect(remotePorts == [7000, 7001, 7003, 7005])
    }
}

// MARK: - Clients on the link, for what runs above TCP

/// The far end of a memory link holding TCP clients, for testing what runs above TCP (the HTTP
/// server) segment by segment: each client sends what it is told, and `poll` hands each the
/// segments the guest sent it. `afterPoll` runs the application between the stack's input and
/// its output, as the guest's run loop does.
final class LinkPeers {
    let stack: NetworkStack
    let link: MemoryLink
    var afterPoll: (UInt64) -> Void = { _ in }
    private var clients: [UInt16: LinkClient] = [:]

    init(tcp settings: TCPSettings = TCPSettings()) {
        link = MemoryLink(mac: guestMAC)
        stack = NetworkStack(device: link, configuration: NetworkConfiguration(
            mode: .manual(IPv4Subnet(address: guestIP, prefixLength: 24)), gateway: peerIP), tcp: settings)
        link.inbound = [ethernet(type: .arp, arp(.request))]   // the peer's MAC is known
        stack.poll(now: 0)
        _ = link.take()
    }

    func client(port: UInt16, to serverPort: UInt16 = 80) -> LinkClient {
        let client = LinkClient(peers: self, port: port, serverPort: serverPort)
        clients[port] = client
        return client
    }

    /// The guest's turn at `now`: input, the application, output; then each client takes its
    /// segments. The peer answers the guest's ARP requests (its cache entries expire).
    func poll(now: UInt64, answeringARP: Bool = true) throws {
        _ = stack.turn(now: now) { now in
            afterPoll(now)
            return true
        }
        var asked = false
        for frame in link.take().compactMap(parse) {
            if frame.0.etherType == .arp { asked = true; continue }
            guard frame.0.etherType == .ipv4 else { continue }
            try frame.1.withUnsafeBytes { bytes in
                let (segment, payload) = try TCPSegmentRepr.parse(try IPv4Packet(checking: bytes).payload,
                                                                  source: guestIP, destination: peerIP)
                clients[segment.destinationPort]?.take(segment, Array(payload))
            }
        }
        if asked && answeringARP {
            link.inbound.append(ethernet(type: .arp, arp(.reply, targetMAC: guestMAC)))
            try poll(now: now, answeringARP: false)
        }
    }

    /// The guest's connection to `client`, while the stack has one.
    func stream(of client: LinkClient) -> TCPStream? {
        stack.tcp.streams[TCPFourTuple(localPort: client.serverPort, remoteAddress: peerIP, remotePort: client.port)]
    }

    fileprivate func deliver(_ frame: [UInt8]) { link.inbound.append(frame) }
}

/// One client of `LinkPeers`: sends in order, acknowledges everything received in order.
final class LinkClient {
    unowned let peers: LinkPeers
    let port: UInt16
    let serverPort: UInt16
    private var sequence: UInt32 = 5000
    private var serverNext: UInt32 = 0
    private var acknowledged: UInt32 = 0
    private(set) var received: [UInt8] = []
    private(set) var receivedFIN = false
    private(set) var receivedRST = false

    fileprivate init(peers: LinkPeers, port: UInt16, serverPort: UInt16) {
        self.peers = peers
        self.port = port
        self.serverPort = serverPort
    }

    /// The three-way handshake; false when the guest did not answer the SYN.
    func connect(now: UInt64) throws -> Bool {
        peers.deliver(frame(flags: .syn, payload: []))
        sequence &+= 1
        try peers.poll(now: now)
        guard serverNext != 0 else { return false }
        try send(now: now)
        return true
    }

    /// Sends `text` (and a FIN if asked) with an ACK of everything received, then polls the guest.
    func send(_ text: String = "", fin: Bool = false, now: UInt64) throws {
        let payload = Array(text.utf8)
        peers.deliver(frame(flags: fin ? [.ack, .fin, .psh] : (payload.isEmpty ? .ack : [.ack, .psh]), payload: payload))
        sequence &+= UInt32(payload.count) + (fin ? 1 : 0)
        try peers.poll(now: now)
    }

    /// Sequence space sent (SYN and FIN included) that the guest has not acknowledged yet.
    var unacknowledged: Int { Int(sequence &- acknowledged) }

    fileprivate func take(_ segment: TCPSegmentRepr, _ payload: [UInt8]) {
        if segment.flags.contains(.rst) { receivedRST = true; return }
        if let ack = segment.ack, Int32(bitPattern: ack.rawValue &- acknowledged) > 0 { acknowledged = ack.rawValue }
        if segment.flags.contains(.syn) { serverNext = segment.sequenceNumber.rawValue &+ 1; return }
        guard segment.sequenceNumber.rawValue == serverNext else { return }  // in order only
        received += payload
        serverNext &+= UInt32(payload.count)
        if segment.flags.contains(.fin) { receivedFIN = true; serverNext &+= 1 }
    }

    private func frame(flags: TCPFlags, payload: [UInt8]) -> [UInt8] {
        ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(from: port, to: serverPort, flags: flags, sequence: sequence,
                                                            ack: flags.contains(.ack) ? serverNext : 0, payload: payload)))
    }
}

/// Randomness is an input: a stack given a seeded generator sends the same bytes every run,
/// so its SYN-ACKs and DHCP messages can be checked octet by octet.
@Suite struct SeededStackTests {
    static let seed: UInt64 = 0x5EED_0016

    /// A listening stack on port 80 that knows the peer's MAC.
    static func listeningStack(random: NetworkRandom) throws -> (NetworkStack, MemoryLink) {
        let link = MemoryLink(mac: guestMAC)
        let stack = NetworkStack(device: link, configuration: NetworkConfiguration(
            mode: .manual(IPv4Subnet(address: guestIP, prefixLength: 24)), gateway: peerIP), random: random)
        _ = try stack.listenTCP(port: 80)
        link.inbound = [ethernet(type: .arp, arp(.request))]
        stack.poll(now: 0)
        _ = link.take()   // the announcement and the ARP reply
        return (stack, link)
    }

    /// A Linux-like SYN from 10.0.0.1:40000: MSS 1460, SACK permitted, timestamps, window scale 7.
    static let syn: [UInt8] = {
        let repr = TCPSegmentRepr(sourcePort: 40000, destinationPort: 80, sequenceNumber: TCPSequenceNumber(0x1000_0000),
                                  flags: .syn, window: 64240,
                                  options: TCPOptions(maximumSegmentSize: 1460, windowScale: 7, sackPermitted: true,
                                                      timestamps: TCPTimestamps(value: 0xABCD, echoReply: 0)))
        var bytes = [UInt8](repeating: 0, count: repr.headerLength)
        bytes.withUnsafeMutableBytes { buffer in _ = try? repr.emit(into: buffer, payload: UnsafeRawBufferPointer(start: nil, count: 0), source: peerIP, destination: guestIP) }
        return ethernet(type: .ipv4, ipv4(proto: .tcp, payload: bytes))
    }()

    static func synAck(random: NetworkRandom) throws -> [UInt8] {
        let (stack, link) = try listeningStack(random: random)
        link.inbound = [syn]
        stack.poll(now: 1_000_000)
        let sent = link.take()
        try #require(sent.count == 1)
        return sent[0]
    }

    @Test func theSynAckIsExactlyTheseBytes() throws {
        let frame = try Self.synAck(random: .seeded(Self.seed))
        #expect(frame == WireFixtures.bytes(hex: """
            020000000020 020000000010 0800
            4500 0034 0001 4000 4006 26c1 0a000002 0a000001
            0050 9c40 08e71b58 10000001 8012 8000 0a33 0000
            020405b4 01030302 01010402
            """))
        // The initial sequence number is the generator's first draw: nothing else was random.
        var reference = SplitMix64(seed: Self.seed)
        #expect(UInt32(truncatingIfNeeded: reference.next()) == 0x08e7_1b58)
    }

    @Test func theSameSeedGivesTheSameSynAckAndAnotherSeedAnotherSequenceNumber() throws {
        let first = try Self.synAck(random: .seeded(Self.seed))
        #expect(try Self.synAck(random: .seeded(Self.seed)) == first)
        let other = try Self.synAck(random: .seeded(Self.seed + 1))
        let differing = first.indices.filter { first[$0] != other[$0] }
        #expect(!differing.isEmpty && differing.allSatisfy { (38..<42).contains($0) || (50..<52).contains($0) },
                "only the sequence number and the TCP checksum differ: \(differing)")
    }

    @Test func theDHCPDiscoverIsExactlyTheseBytes() throws {
        let link = MemoryLink(mac: guestMAC)
        let stack = NetworkStack(device: link, configuration: NetworkConfiguration(mode: .dhcp), random: .seeded(Self.seed))
        stack.poll(now: 0)
        let sent = link.take()
        try #require(sent.count == 1)
        let padding = String(repeating: "00", count: 192)
        #expect(sent[0] == WireFixtures.bytes(hex: """
            ffffffffffff 020000000010 0800
            4500 0148 0001 4000 4011 39a5 00000000 ffffffff
            0044 0043 0134 f637
            01010600 bda85260 0000 8000 00000000 00000000 00000000 00000000
            02000000001000000000000000000000
            """ + padding + """
            63825363
            350101 3d0701020000000010 3706010306333a3b ff
            """ + String(repeating: "00", count: 39)))
        // The transaction id comes from the client's SplitMix64, which the stack's generator
        // seeded with its first draw: the client draws an id when made and a fresh one as
        // the exchange begins.
        var stackDraws = SplitMix64(seed: Self.seed)
        var clientDraws = SplitMix64(seed: stackDraws.next())
        _ = clientDraws.next()
        #expect(UInt32(truncatingIfNeeded: clientDraws.next() >> 32) == 0xbda8_5260)
    }

    @Test func aSeededConnectDrawsItsPortThenItsSequenceNumber() throws {
        let (stack, link) = try Self.listeningStack(random: .seeded(Self.seed))
        _ = try stack.connectTCP(to: TCPEndpoint(address: peerIP, port: 8080), now: 1)
        stack.poll(now: 1)
        let syn = try #require(try NetworkTimeWaitTests.segmentsSent(link).first)
        var reference = SplitMix64(seed: Self.seed)
        #expect(syn.sourcePort == UInt16(49152 + reference.next() % 16384))
        #expect(syn.sequenceNumber == TCPSequenceNumber(UInt32(truncatingIfNeeded: reference.next())))
    }
}

// MARK: - Turns: one exchange each, polling only the connections with work

/// A turn of the loop meets the device once, and polls only the connections a segment arrived
/// for, the application called, or whose timer is due; a timer still fires on a connection
/// nothing else touches.
@Suite struct NetworkTurnTests {
    /// A stack listening on port 80, the peer's MAC known, and `count` idle connections from
    /// ports 40000... (each acknowledged: nothing owed either way).
    static func connections(_ count: Int, settings: TCPSettings = TCPSettings()) throws
        -> (NetworkStack, MemoryLink, [TCPStream]) {
        let link = MemoryLink(mac: guestMAC)
        let stack = NetworkStack(device: link, configuration: NetworkConfiguration(
            mode: .manual(IPv4Subnet(address: guestIP, prefixLength: 24)), gateway: peerIP), tcp: settings)
        let listener = try stack.listenTCP(port: 80)
        link.inbound = [ethernet(type: .arp, arp(.request))]
        stack.poll(now: 0)
        _ = link.take()
        var streams: [TCPStream] = []
        for index in 0..<count {
            let stream = try NetworkTimeWaitTests.connect(stack, link, listener, port: UInt16(40000 + index),
                                                          sequence: 100, now: 1)
            streams.append(try #require(stream))
        }
        return (stack, link, streams)
    }

    /// A segment from port `port` (our side's numbers from `stream`).
    static func segment(to stream: TCPStream, flags: TCPFlags = .ack, sequence: UInt32 = 101, _ text: String = "") -> [UInt8] {
        ethernet(type: .ipv4, ipv4(proto: .tcp, payload: tcp(
            from: stream.remote.port, to: 80, flags: flags, sequence: sequence,
            ack: stream.connection.sendNextSequence.rawValue, payload: Array(text.utf8))))
    }

    @Test func aTurnAnswersInTheSameExchangeThatWaitsForTheNextTimer() throws {
        let (stack, link, streams) = try Self.connections(1)
        let stream = streams[0]
        link.inbound = [Self.segment(to: stream, flags: [.ack, .psh], "ping")]
        let exchanges = link.exchanges.count
        var request: [UInt8] = []
        let going = stack.turn(now: 2) { _ in
            request = stream.read()
            _ = stream.write(Array("pong".utf8))
            return true
        }
        #expect(going && request == Array("ping".utf8))
        #expect(link.exchanges.count == exchanges + 1, "one exchange per turn")
        let sent = try NetworkTimeWaitTests.segmentsSent(link)
        #expect(sent.count == 1 && sent[0].flags.contains(.psh) && sent[0].acknowledgmentNumber == TCPSequenceNumber(105),
                "the answer carries the ACK: \(sent)")
        let retransmission = try #require(stack.pollAt())
        #expect(link.exchanges.last == retransmission, "the exchange waits for the retransmission timer")

        // The application's deadline, when sooner, bounds the wait; a body that stops ends the
        // turn before the exchange.
        #expect(stack.turn(now: 3, wakeAt: { 5 }) { _ in true })
        #expect(link.exchanges.last == 5)
        #expect(!stack.turn(now: 4) { _ in false })
        #expect(link.exchanges.count == exchanges + 2)
    }

    @Test func aTurnPollsOnlyTheConnectionsWithWork() throws {
        let (stack, link, streams) = try Self.connections(8)
        stack.poll(now: 2)
        let polled = stack.tcp.connectionsPolled
        stack.poll(now: 3)
        #expect(stack.tcp.connectionsPolled == polled, "idle connections cost nothing")

        link.inbound = [Self.segment(to: streams[3], flags: [.ack, .psh], "data")]
        stack.poll(now: 4)
        #expect(stack.tcp.connectionsPolled == polled + 1, "the one a segment arrived for")
        _ = streams[3].read()
        _ = streams[5].write(Array("x".utf8))
        stack.transmitPending(now: 4)
        #expect(stack.tcp.connectionsPolled == polled + 3, "and those the application called")
        let sent = try NetworkTimeWaitTests.segmentsSent(link)
        #expect(sent.contains { $0.destinationPort == 40005 && $0.flags.contains(.psh) })
    }

    @Test func theRetransmissionTimerFiresOnAConnectionNothingElseTouches() throws {
        let (stack, link, streams) = try Self.connections(2)
        _ = streams[0].write(Array("hello".utf8))
        stack.transmitPending(now: 2)
        let first = try #require(try NetworkTimeWaitTests.segmentsSent(link).first)
        let at = try #require(stack.pollAt())
        #expect(at > 2)
        // The other connection is busy meanwhile; this one is not touched.
        for now in stride(from: UInt64(3), to: at, by: Int((at - 3) / 4 + 1)) {
            link.inbound = [Self.segment(to: streams[1], flags: [.ack, .psh], "more")]
            stack.poll(now: now)
            #expect(try NetworkTimeWaitTests.segmentsSent(link).allSatisfy { $0.destinationPort == 40001 })
        }
        stack.poll(now: at)
        let again = try NetworkTimeWaitTests.segmentsSent(link)
        #expect(again.contains { $0.destinationPort == 40000 && $0.sequenceNumber == first.sequenceNumber }, "\(again)")
    }

    @Test func aDelayedACKGoesOutWhenItsTimerFires() throws {
        let (stack, link, streams) = try Self.connections(1)
        link.inbound = [Self.segment(to: streams[0], flags: [.ack, .psh], "one segment")]
        stack.poll(now: 2)
        #expect(try NetworkTimeWaitTests.segmentsSent(link).isEmpty, "the ACK waits")
        let at = try #require(stack.pollAt())
        #expect(at == 2 + TCPConfiguration().delayedAckTimeout!)
        stack.poll(now: at - 1)
        #expect(try NetworkTimeWaitTests.segmentsSent(link).isEmpty)
        stack.poll(now: at)
        let ack = try #require(try NetworkTimeWaitTests.segmentsSent(link).first)
        #expect(ack.acknowledgmentNumber == TCPSequenceNumber(101 + 11))
    }

    @Test func keepAliveProbesAnIdleConnection() throws {
        var settings = TCPSettings()
        settings.connection.keepAliveInterval = 10 * tcpSecond
        let (stack, link, streams) = try Self.connections(1, settings: settings)
        let at = try #require(stack.pollAt())
        #expect(at == 1 + 10 * tcpSecond)
        stack.poll(now: at - 1)
        #expect(try NetworkTimeWaitTests.segmentsSent(link).isEmpty)
        stack.poll(now: at)
        let probe = try #require(try NetworkTimeWaitTests.segmentsSent(link).first)
        #expect(probe.sequenceNumber == streams[0].connection.sendNextSequence - 1, "one octet before SND.NXT")
        #expect(stack.pollAt() == at + 10 * tcpSecond, "and again an interval later")
    }

    @Test func aRetransmissionDeadlineThatMovesLaterKeepsItsTimerEntry() throws {
        let (stack, link, streams) = try Self.connections(1)
        let stream = streams[0]
        // One answer acknowledged first, so that the RTO is the one measured from now on.
        _ = stream.write(Array("answer".utf8))
        stack.transmitPending(now: 2)
        link.inbound = [Self.segment(to: stream)]
        stack.poll(now: 3)
        _ = stream.write(Array("answer".utf8))
        stack.transmitPending(now: 4)
        _ = link.take()
        let first = try #require(stream.timerAt)
        let filed = stack.tcp.timers.count
        // Twenty answers, each sent after the previous one was acknowledged: each moves the
        // retransmission deadline later, and none files a timer of its own.
        var now: UInt64 = 4
        for _ in 0..<20 {
            now += 1_000_000
            link.inbound = [Self.segment(to: stream)]
            stack.poll(now: now)
            _ = stream.write(Array("answer".utf8))
            stack.transmitPending(now: now)
            #expect(stack.tcp.timers.count == filed, "a deadline that moved later is not filed again")
        }
        let last = try #require(stream.dueAt)
        #expect(last > first && stream.timerAt == first, "the entry of the first answer is still the live one")
        let sent = try #require(try NetworkTimeWaitTests.segmentsSent(link).last)

        #expect(stack.pollAt() == last, "at the front, it is refiled where the connection's timer is now")
        stack.poll(now: first)
        #expect(try NetworkTimeWaitTests.segmentsSent(link).isEmpty, "nothing is retransmitted at the old deadline")
        stack.poll(now: last - 1)
        #expect(try NetworkTimeWaitTests.segmentsSent(link).isEmpty)
        stack.poll(now: last)
        let again = try NetworkTimeWaitTests.segmentsSent(link)
        #expect(again.count == 1 && again.first?.sequenceNumber == sent.sequenceNumber, "the last answer, once: \(again)")
    }

    @Test func anEarlierDeadlineIsFiledAtOnce() throws {
        let (stack, link, streams) = try Self.connections(1)
        // The retransmission timer is filed; then a segment acknowledges the answer and arms the
        // delayed ACK, which comes sooner: that one is filed at once.
        _ = streams[0].write(Array("answer".utf8))
        stack.transmitPending(now: 2)
        _ = link.take()
        let retransmission = try #require(streams[0].timerAt)
        link.inbound = [Self.segment(to: streams[0], flags: [.ack, .psh], sequence: 101, "data")]
        stack.poll(now: 3)
        let delayedAck = try #require(streams[0].dueAt)
        #expect(delayedAck < retransmission && streams[0].timerAt == delayedAck)
        #expect(stack.pollAt() == delayedAck)
        stack.poll(now: delayedAck)
        #expect(try NetworkTimeWaitTests.segmentsSent(link).first?.acknowledgmentNumber == TCPSequenceNumber(105))
    }

    @Test func aTimerThatMovedDoesNotWakeTheLoop() throws {
        let (stack, link, streams) = try Self.connections(1)
        _ = streams[0].write(Array("hello".utf8))
        stack.transmitPending(now: 2)
        _ = link.take()
        #expect(stack.pollAt() != nil, "the retransmission timer")
        link.inbound = [Self.segment(to: streams[0])]  // acknowledges "hello"
        stack.poll(now: 3)
        #expect(stack.pollAt() == nil, "nothing is due: the loop may sleep until input")
    }
}
