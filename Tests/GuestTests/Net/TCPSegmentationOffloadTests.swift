// Segmentation and checksum offload: what the connection emits with a segmentation limit
// (segments of whole MSS up to it, slow start counting the octets a large segment carried), and
// what the stack hands an offloading link (partial checksums, the MSS as the segment size, plain
// MSS-sized packets while the next hop waits for ARP, received checksums the link vouches for).
import Testing
import TestSupport
@testable import Swiftlet

private func offloadConfiguration(limit: Int = 64_000) -> TCPConfiguration {
    var configuration = tcpTestConfiguration()
    configuration.segmentationOffloadLimit = limit
    return configuration
}

@Suite struct TCPSegmentationOffloadTests {
    /// The peer's MSS is 1000: one segment carries the whole congestion window (4 MSS), cut by
    /// the host; without offload the same data leaves as four segments.
    @Test func aSegmentCarriesTheWholeWindowInWholeMSS() {
        var c = tcpEstablished(offloadConfiguration())
        #expect(c.sendBurst == 64_000)
        #expect(c.send(tcpBytes(10_000)) == 10_000)
        let out = c.recv(TCP_T0)
        #expect(out == [TCPSeg(tcpToPeer(seq: LISS + 1, ack: RISS + 1, flags: [.psh]), tcpBytes(10_000).prefix(4000).map { $0 })])

        var plain = tcpEstablished()
        #expect(plain.send(tcpBytes(10_000)) == 10_000)
        #expect(plain.recv(TCP_T0).map(\.payload.count) == [1000, 1000, 1000, 1000])
    }

    /// Slow start grows the window by what an ACK covered, up to one segment as sent (RFC 3465's
    /// byte counting, as Linux counts the packets the host cut): 4000 octets acknowledged at once
    /// double the window, where without offload they would add one MSS.
    @Test func slowStartCountsTheOctetsALargeSegmentCarried() {
        var c = tcpEstablished(offloadConfiguration(), tx: 64_000)
        _ = c.send(tcpBytes(30_000))
        #expect(c.recv(TCP_T0).map(\.payload.count) == [4000])
        #expect(c.congestionWindowBytes == 4000)
        let next = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 4001, window: 60_000), at: TCP_T0 + tcpMS)
        #expect(c.congestionWindowBytes == 8000)
        #expect(next.map(\.payload.count) == [8000])
        #expect(next.first?.repr.sequenceNumber == LISS + 4001)

        var plain = tcpEstablished(tx: 64_000)
        _ = plain.send(tcpBytes(30_000))
        _ = plain.recv(TCP_T0)
        _ = plain.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 4001, window: 60_000), at: TCP_T0 + tcpMS)
        #expect(plain.congestionWindowBytes == 5000)
    }

    /// The segment is cut to whole MSS under the limit, and the peer's window still bounds it.
    @Test func theLimitAndThePeersWindowBoundASegment() {
        var c = tcpEstablished(offloadConfiguration(limit: 2500))
        #expect(c.sendBurst == 2000)
        _ = c.send(tcpBytes(10_000))
        #expect(c.recv(TCP_T0).map(\.payload.count) == [2000, 2000])

        var narrow = tcpEstablished(offloadConfiguration())
        _ = narrow.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1, window: 2500), at: TCP_T0)
        _ = narrow.send(tcpBytes(10_000))
        #expect(narrow.recv(TCP_T0).map(\.payload.count) == [2500])
    }

    /// A peer MSS below what the device cuts to sends one MSS per segment, as without offload.
    @Test func anMSSBelowTheDevicesMinimumSendsPlainSegments() {
        var c = tcpListening(offloadConfiguration())
        _ = c.exchange(tcpFromPeer(seq: RISS, flags: [.syn], options: TCPOptions(maximumSegmentSize: 500)), at: TCP_T0)
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), at: TCP_T0)
        #expect(c.state == .established && c.sendBurst == 500)
        _ = c.send(tcpBytes(3000))
        #expect(c.recv(TCP_T0).map(\.payload.count).allSatisfy { $0 == 500 })
    }

    /// A full send buffer still keeps its last MSS back for a probe, not the whole segment.
    @Test func aFullSendBufferKeepsOnlyItsLastMSSBack() {
        var c = tcpEstablished(offloadConfiguration(), tx: 8000)
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1, window: 60_000), at: TCP_T0)
        _ = c.send(tcpBytes(4000))
        #expect(c.recv(TCP_T0).map(\.payload.count) == [4000])
        _ = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 4001, window: 60_000), at: TCP_T0 + tcpMS)
        #expect(c.congestionWindowBytes == 8000)
        _ = c.send(tcpBytes(2000))
        #expect(c.recv(TCP_T0 + tcpMS).map(\.payload.count) == [2000])
        #expect(c.send(tcpBytes(6000)) == 6000)  // the buffer is full, 2000 in flight
        #expect(c.recv(TCP_T0 + tcpMS).map(\.payload.count) == [5000])
        #expect(c.sendNextSequence == LISS + 11_001)
    }

    /// A merged segment larger than the MSS is taken whole and acknowledged at once.
    @Test func aMergedSegmentIsAcceptedWholeAndAcknowledgedAtOnce() {
        var c = tcpEstablished(rx: 16_384)
        let ack = c.exchange(tcpFromPeer(seq: RISS + 1, ack: LISS + 1), tcpBytes(12_000), at: TCP_T0)
        #expect(ack.map(\.repr) == [tcpToPeer(seq: LISS + 1, ack: RISS + 12_001, window: 4384)])
        #expect(c.readAll() == tcpBytes(12_000))
    }
}

// MARK: - The stack on an offloading link

private let guestMAC = MACAddress(0x02, 0, 0, 0, 0, 0x10)
private let peerMAC = MACAddress(0x02, 0, 0, 0, 0, 0x20)
private let guestIP = IPv4Address(10, 0, 0, 2)
private let peerIP = IPv4Address(10, 0, 0, 1)
private let limit = 14 + 65_535

private func frame(type: EtherType, _ payload: [UInt8]) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: 14 + payload.count)
    bytes.withUnsafeMutableBytes { EthernetRepr(destination: guestMAC, source: peerMAC, etherType: type).emit(into: $0) }
    bytes.replaceSubrange(14..., with: payload)
    return bytes
}

private func arpFromPeer(_ operation: ARPOperation) -> [UInt8] {
    let repr = ARPRepr(operation: operation, senderHardwareAddress: peerMAC, senderProtocolAddress: peerIP,
                       targetHardwareAddress: operation == .reply ? guestMAC : .zero, targetProtocolAddress: guestIP)
    var bytes = [UInt8](repeating: 0, count: repr.bufferLength)
    bytes.withUnsafeMutableBytes { repr.emit(into: $0) }
    return frame(type: .arp, bytes)
}

/// A TCP/IPv4 frame from the peer; `corrupt` flips a payload byte after the checksum.
private func tcpFromPeerFrame(_ repr: TCPSegmentRepr, _ payload: [UInt8] = [], corrupt: Bool = false) -> [UInt8] {
    var segment = [UInt8](repeating: 0, count: repr.headerLength + payload.count)
    segment.withUnsafeMutableBytes { buffer in
        payload.withUnsafeBytes { _ = try? repr.emit(into: buffer, payload: $0, source: peerIP, destination: guestIP) }
    }
    if corrupt { segment[segment.count - 1] ^= 0xFF }
    let ip = IPv4Repr(source: peerIP, destination: guestIP, proto: .tcp, payloadLength: segment.count)
    var packet = [UInt8](repeating: 0, count: ip.bufferLength)
    packet.withUnsafeMutableBytes { ip.emit(into: $0) }
    packet.replaceSubrange(20..., with: segment)
    return frame(type: .ipv4, packet)
}

/// The TCP segment in a frame the stack sent: header, payload, and the frame's bytes.
private func sentSegment(_ frame: [UInt8]) throws -> (repr: TCPSegmentRepr, payload: [UInt8])? {
    guard frame.count > 34, frame[12] == 0x08, frame[13] == 0x00, frame[23] == 6 else { return nil }
    return try Array(frame[34...]).withUnsafeBytes { bytes in
        let parsed = try TCPSegmentRepr.parse(bytes, source: guestIP, destination: peerIP, verifyChecksum: false)
        return (parsed.repr, Array(parsed.payload))
    }
}

/// Completes a partial checksum as the host would (sum from `start`, store the complement).
private func completeChecksum(_ frame: [UInt8], start: Int, offset: Int) -> [UInt8] {
    var done = frame
    let sum = Array(frame[start...]).withUnsafeBytes { InternetChecksum.of($0) }
    done[start + offset] = UInt8(sum >> 8)
    done[start + offset + 1] = UInt8(sum & 0xFF)
    return done
}

private func verifies(_ frame: [UInt8]) -> Bool {
    Array(frame[34...]).withUnsafeBytes { TCPSegmentRepr.checksum(source: guestIP, destination: peerIP, segment: $0) == 0 }
}

@Suite struct NetworkOffloadStackTests {
    /// An established connection from 10.0.0.1:40000 to the stack's port 9, the peer's MSS 1460
    /// and window 1 MiB (scale 4).
    static func connected() throws -> (NetworkStack, MemoryLink, TCPStream) {
        let link = MemoryLink(mac: guestMAC, segmentationLimit: limit)
        var settings = TCPSettings()
        settings.sendBuffer = 256 * 1024
        let stack = NetworkStack(device: link, configuration: NetworkConfiguration(
            mode: .manual(IPv4Subnet(address: guestIP, prefixLength: 24)), gateway: peerIP), tcp: settings,
            random: .seeded(1))
        let listener = try stack.listenTCP(port: 9)
        link.inbound = [arpFromPeer(.request),
                        tcpFromPeerFrame(TCPSegmentRepr(sourcePort: 40000, destinationPort: 9, sequenceNumber: TCPSequenceNumber(100),
                                                        flags: [.syn], window: 65535,
                                                        options: TCPOptions(maximumSegmentSize: 1460, windowScale: 4)))]
        stack.poll(now: 0)
        let synAck = try #require(try link.take().compactMap(sentSegment).first { $0.repr.flags.contains(.syn) })
        link.inbound = [tcpFromPeerFrame(TCPSegmentRepr(sourcePort: 40000, destinationPort: 9, sequenceNumber: TCPSequenceNumber(101),
                                                        acknowledgmentNumber: synAck.repr.sequenceNumber + 1, flags: [.ack], window: 65535))]
        stack.poll(now: 0)
        _ = link.take()
        return (stack, link, try #require(listener.accept()))
    }

    @Test func segmentsLeaveLargeWithAPartialChecksumAndTheMSSAsSegmentSize() throws {
        let (stack, link, stream) = try Self.connected()
        let data = tcpBytes(200_000)
        #expect(data.withUnsafeBytes { stream.write($0) } == 200_000)
        stack.transmitPending(now: 1)
        let offloads = link.outboundOffloads
        let frames = link.take()
        let first = try #require(try sentSegment(frames[0]))
        // The initial window (3 MSS), in one frame the host cuts into three.
        #expect(first.payload == Array(data.prefix(3 * 1460)))
        #expect(offloads[0] == TransmitOffload(checksumStart: 34, checksumOffset: 16, segmentSize: 1460, headerLength: 54))
        #expect(frames[0].count == 54 + 3 * 1460)
        #expect(!verifies(frames[0]) && verifies(completeChecksum(frames[0], start: 34, offset: 16)))
        // The window grows by what each ACK covered; later frames carry up to 44 MSS.
        var now: UInt64 = 2, acked = first.repr.sequenceNumber + first.payload.count, sizes: [Int] = []
        while sizes.reduce(0, +) < 200_000 - 3 * 1460 && now < 50 {
            link.inbound = [tcpFromPeerFrame(TCPSegmentRepr(sourcePort: 40000, destinationPort: 9, sequenceNumber: TCPSequenceNumber(101),
                                                            acknowledgmentNumber: acked, flags: [.ack], window: 65535))]
            stack.poll(now: now)
            let sent = try link.take().compactMap(sentSegment).filter { !$0.payload.isEmpty }
            sizes += sent.map(\.payload.count)
            if let last = sent.last { acked = last.repr.sequenceNumber + last.payload.count }
            now += 1
        }
        #expect(sizes.reduce(0, +) == 200_000 - 3 * 1460)
        #expect(sizes.max() == 44 * 1460)
    }

    /// While the peer's address waits for ARP, the ARP queue holds plain packets: a large segment
    /// is cut into MSS-sized ones with whole checksums (the queue keeps the first four).
    @Test func aSegmentWaitingForARPIsCutHereWithWholeChecksums() throws {
        let (stack, link, stream) = try Self.connected()
        let later: UInt64 = 61_000_000_000  // past the ARP entry's lifetime
        #expect(tcpBytes(5000).withUnsafeBytes { stream.write($0) } == 5000)
        stack.transmitPending(now: later)
        #expect(try link.take().compactMap(sentSegment).isEmpty)  // an ARP request went instead
        link.inbound = [arpFromPeer(.reply)]
        stack.poll(now: later)
        let offloads = link.outboundOffloads
        let frames = link.take().filter { (try? sentSegment($0)) != nil }
        #expect(frames.map { try! sentSegment($0)!.payload.count } == [1460, 1460, 1460])
        #expect(frames.allSatisfy(verifies))
        #expect(offloads.allSatisfy { $0.isNone })
    }

    /// A link that vouches for checksums gets its frames taken without verifying them; a link
    /// that does not has a corrupt one dropped.
    @Test func receivedChecksumsAreVerifiedUnlessTheLinkVouchesForThem() throws {
        let (stack, link, stream) = try Self.connected()
        let corrupt = tcpFromPeerFrame(TCPSegmentRepr(sourcePort: 40000, destinationPort: 9, sequenceNumber: TCPSequenceNumber(101),
                                                      acknowledgmentNumber: stream.connection.sendNextSequence, flags: [.ack, .psh],
                                                      window: 65535), tcpBytes(3000), corrupt: true)
        let malformed = stack.statistics.malformed
        link.inbound = [corrupt]
        stack.poll(now: 1)
        #expect(!stream.isReadable && stack.statistics.malformed == malformed + 1)
        link.inboundChecksumTrusted = true
        link.inbound = [corrupt]
        stack.poll(now: 2)
        #expect(stream.read(maximum: 10_000).count == 3000)
    }
}
