// UDP view and representation: a captured DNS query, a published vector, pseudo-header
// checksums (0 = none, 0 sent as 0xFFFF), length refusals, every truncation.
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct WireUDPTests {
    typealias F = WireFixtures

    static func parse(_ bytes: [UInt8], source: IPv4Address = F.guestIP, destination: IPv4Address = F.dnsIP) -> WireErrorKind? {
        F.failure(bytes) { b throws(WireError) in try UDPRepr.parse(bytes: b, source: source, destination: destination) }
    }

    static let dnsQuery = F.bytes(hex: "1234 0100 0001 0000 0000 0000 076578616d706c6503636f6d00 0001 0001")

    @Test func parsesCapturedDNSQuery() throws {
        try F.dnsQueryFrame.withUnsafeBytes { buffer in
            let ip = try IPv4Packet(checking: EthernetFrame(checking: buffer).payload)
            let ipRepr = try IPv4Repr.parse(ip)
            #expect(ipRepr.proto == .udp)
            let datagram = try UDPDatagram(checking: ip.payload)
            #expect(datagram.sourcePort == 53535 && datagram.destinationPort == 53)
            #expect(datagram.length == 37 && datagram.checksum == 0x349C)
            #expect(datagram.isChecksumValid(source: ipRepr.source, destination: ipRepr.destination))
            #expect(Array(datagram.payload) == Self.dnsQuery)
            let repr = try UDPRepr.parse(datagram, source: ipRepr.source, destination: ipRepr.destination)
            #expect(repr == UDPRepr(sourcePort: 53535, destinationPort: 53, payloadLength: 29))
        }
    }

    @Test func emitsCapturedDNSQueryExactly() {
        let repr = UDPRepr(sourcePort: 53535, destinationPort: 53, payloadLength: Self.dnsQuery.count)
        var buffer = [UInt8](repeating: 0, count: repr.bufferLength)
        buffer.withUnsafeMutableBytes { out in
            Self.dnsQuery.withUnsafeBytes { repr.emit(into: out, payload: $0, source: F.guestIP, destination: F.dnsIP) }
        }
        #expect(buffer == F.dnsUDP)
    }

    @Test func smoltcpVector() throws {
        // smoltcp src/wire/udp.rs PACKET_BYTES: 48896 → 53, payload aa 00 00 ff,
        // 192.168.1.1 → 192.168.1.2, checksum 0x124d.
        let vector = F.bytes(hex: "bf00 0035 000c 124d aa0000ff")
        let source = IPv4Address(192, 168, 1, 1), destination = IPv4Address(192, 168, 1, 2)
        #expect(Self.parse(vector, source: source, destination: destination) == nil)
        var emitted = [UInt8](repeating: 0, count: 12)
        emitted.withUnsafeMutableBytes { out in
            ([0xAA, 0x00, 0x00, 0xFF] as [UInt8]).withUnsafeBytes {
                UDPRepr(sourcePort: 0xBF00, destinationPort: 53, payloadLength: 4)
                    .emit(into: out, payload: $0, source: source, destination: destination)
            }
        }
        #expect(emitted == vector)
    }

    @Test func roundTrip() throws {
        var random = SplitMix64(seed: 9)
        for _ in 0..<500 {
            let payload = (0..<random.next(below: 120)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let source = IPv4Address(UInt32(truncatingIfNeeded: random.next()))
            let destination = IPv4Address(UInt32(truncatingIfNeeded: random.next()))
            let repr = UDPRepr(sourcePort: UInt16(truncatingIfNeeded: random.next()),
                               destinationPort: UInt16(1 + random.next(below: 0xFFFF)), payloadLength: payload.count)
            // Payload written first, header emitted over it (the zero-copy way).
            var buffer = [UInt8](repeating: 0, count: 8) + payload + [0x77, 0x77]
            buffer.withUnsafeMutableBytes { repr.emit(into: $0, source: source, destination: destination) }
            #expect(buffer[6] != 0 || buffer[7] != 0)
            #expect(Array(buffer[8..<(8 + payload.count)]) == payload)
            let parsed = try buffer.withUnsafeBytes { b throws(WireError) in
                try UDPRepr.parse(bytes: b, source: source, destination: destination)
            }
            #expect(parsed == repr)
            // Trailing bytes beyond the length are outside the datagram and its checksum.
            let trailing = try buffer.withUnsafeBytes { b throws(WireError) in Array(try UDPDatagram(checking: b).payload) }
            #expect(trailing == payload)
        }
    }

    @Test func zeroChecksumMeansNone() {
        var bytes = F.dnsUDP
        bytes[6] = 0; bytes[7] = 0
        #expect(Self.parse(bytes) == nil)
        #expect(Self.parse(bytes, source: .any, destination: .broadcast) == nil)
    }

    @Test func computedZeroIsSentAsAllOnes() throws {
        let repr = UDPRepr(sourcePort: 1234, destinationPort: 5678, payloadLength: 2)
        func emit(_ payload: [UInt8]) -> [UInt8] {
            var buffer = [UInt8](repeating: 0, count: 10)
            buffer.withUnsafeMutableBytes { out in
                payload.withUnsafeBytes { repr.emit(into: out, payload: $0, source: F.guestIP, destination: F.dnsIP) }
            }
            return buffer
        }
        // With a zero payload word the checksum is c; with the payload word c, the sum is
        // all ones and the computed checksum 0, which must go out as 0xFFFF.
        let first = emit([0, 0])
        let second = emit([first[6], first[7]])
        #expect(second[6] == 0xFF && second[7] == 0xFF)
        #expect(Self.parse(second) == nil)
    }

    @Test func badChecksumIsRefusedUnlessSkipped() {
        var bytes = F.dnsUDP
        bytes[20] ^= 0x01
        #expect(Self.parse(bytes) == .badChecksum)
        #expect(F.failure(bytes) { b throws(WireError) in
            try UDPRepr.parse(bytes: b, source: F.guestIP, destination: F.dnsIP, verifyChecksum: false)
        } == nil)
        // The pseudo-header is covered: the right bytes from the wrong addresses fail.
        #expect(Self.parse(F.dnsUDP, source: F.guestIP, destination: F.gatewayIP) == .badChecksum)
    }

    @Test func lengthBelowEightIsMalformed() {
        for length in 0..<8 {
            var bytes = F.dnsUDP
            bytes[4] = 0; bytes[5] = UInt8(length)
            #expect(F.failure(bytes) { b throws(WireError) in try UDPDatagram(checking: b) } == .malformed)
        }
    }

    @Test func lengthBeyondBufferIsTruncated() {
        for length in [38, 0x100, 0xFFFF] {
            var bytes = F.dnsUDP
            bytes[4] = UInt8(length >> 8); bytes[5] = UInt8(length & 0xFF)
            #expect(F.failure(bytes) { b throws(WireError) in try UDPDatagram(checking: b) } == .truncated)
        }
    }

    @Test func shorterLengthBoundsPayloadAndChecksum() throws {
        // Header-only datagram inside a longer buffer: empty payload, checksum over 8 bytes.
        let repr = UDPRepr(sourcePort: 7, destinationPort: 7, payloadLength: 0)
        var buffer = [UInt8](repeating: 0x99, count: 20)
        buffer.withUnsafeMutableBytes { repr.emit(into: $0, source: F.guestIP, destination: F.dnsIP) }
        try buffer.withUnsafeBytes { b in
            let datagram = try UDPDatagram(checking: b)
            #expect(datagram.length == 8 && datagram.payload.count == 0)
            #expect(try UDPRepr.parse(datagram, source: F.guestIP, destination: F.dnsIP) == repr)
        }
    }

    @Test func destinationPortZeroIsMalformed() {
        var bytes = F.dnsUDP
        bytes[2] = 0; bytes[3] = 0
        #expect(F.failure(bytes) { b throws(WireError) in
            try UDPRepr.parse(bytes: b, source: F.guestIP, destination: F.dnsIP, verifyChecksum: false)
        } == .malformed)
    }

    @Test func everyTruncationIsRefused() {
        let datagram = F.dnsUDP
        for length in 0..<datagram.count {
            #expect(Self.parse(Array(datagram[0..<length])) == .truncated)
        }
        let packet = F.dnsIPv4
        for length in 0..<packet.count {
            #expect(F.failure(Array(packet[0..<length])) { b throws(WireError) in
                try UDPDatagram(checking: IPv4Packet(checking: b).payload)
            } == .truncated)
        }
    }
}
