// IPv4 view and representation: captured packets, round trip, header length / total length /
// version / checksum refusals, options, Ethernet padding, fragments, every truncation.
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct WireIPv4Tests {
    typealias F = WireFixtures

    static func view(_ bytes: [UInt8]) -> WireErrorKind? {
        F.failure(bytes) { b throws(WireError) in try IPv4Packet(checking: b) }
    }

    static func parse(_ bytes: [UInt8], verifyChecksum: Bool = true) -> WireErrorKind? {
        F.failure(bytes) { b throws(WireError) in try IPv4Repr.parse(bytes: b, verifyChecksum: verifyChecksum) }
    }

    /// Rewrites the header checksum of `bytes` (header length from its IHL) independently.
    static func fixChecksum(_ bytes: inout [UInt8]) {
        let headerLength = Int(bytes[0] & 0x0F) * 4
        bytes[10] = 0; bytes[11] = 0
        let sum = F.referenceChecksum(Array(bytes[0..<headerLength]))
        bytes[10] = UInt8(sum >> 8); bytes[11] = UInt8(sum & 0xFF)
    }

    @Test func wellKnownHeaderChecksum() throws {
        // The worked example of RFC 791 header checksums: 192.168.0.1 → 192.168.0.199, UDP,
        // total length 115, DF, TTL 64, checksum 0xb861.
        let header = F.bytes(hex: "4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7")
        let packet = header + [UInt8](repeating: 0, count: 115 - 20)
        let repr = try packet.withUnsafeBytes { b throws(WireError) in try IPv4Repr.parse(bytes: b) }
        #expect(repr == IPv4Repr(source: IPv4Address(192, 168, 0, 1), destination: IPv4Address(192, 168, 0, 199),
                                 proto: .udp, payloadLength: 95, timeToLive: 64, dontFragment: true))
        var emitted = [UInt8](repeating: 0, count: 20)
        emitted.withUnsafeMutableBytes { repr.emit(into: $0) }
        #expect(emitted == header)
    }

    @Test func parsesCapturedPing() throws {
        try F.pingIPv4.withUnsafeBytes { buffer in
            let packet = try IPv4Packet(checking: buffer)
            #expect(packet.version == 4 && packet.headerLength == 20 && packet.totalLength == 84)
            #expect(packet.checksum == 0xD85D && packet.isChecksumValid)
            #expect(packet.options.count == 0)
            #expect(Array(packet.payload) == F.pingICMP)
            let repr = try IPv4Repr.parse(packet)
            #expect(repr.source == F.guestIP && repr.destination == F.gatewayIP)
            #expect(repr.proto == .icmp && repr.payloadLength == 64 && repr.timeToLive == 64)
            #expect(repr.identification == 0x4A3B && repr.dontFragment && !repr.moreFragments)
            #expect(repr.fragmentOffset == 0 && !repr.isFragment && repr.dscp == 0 && repr.ecn == 0)
        }
    }

    @Test func emitsCapturedHeaderExactly() throws {
        let repr = try F.pingIPv4.withUnsafeBytes { b throws(WireError) in try IPv4Repr.parse(bytes: b) }
        var buffer = [UInt8](repeating: 0xAB, count: repr.bufferLength)
        buffer.withUnsafeMutableBytes { repr.emit(into: $0) }
        #expect(Array(buffer[0..<20]) == Array(F.pingIPv4[0..<20]))
        #expect(buffer[20] == 0xAB)  // payload untouched
    }

    @Test func roundTrip() throws {
        var random = SplitMix64(seed: 4)
        let protocols: [IPProtocol] = [.icmp, .tcp, .udp, .other(47)]
        for _ in 0..<500 {
            let payloadLength = random.next(below: 200)
            let repr = IPv4Repr(
                source: IPv4Address(UInt32(truncatingIfNeeded: random.next())),
                destination: IPv4Address(UInt32(truncatingIfNeeded: random.next())),
                proto: protocols[random.next(below: protocols.count)],
                payloadLength: payloadLength,
                timeToLive: UInt8(truncatingIfNeeded: random.next()),
                dscp: UInt8(random.next(below: 64)), ecn: UInt8(random.next(below: 4)),
                identification: UInt16(truncatingIfNeeded: random.next()),
                dontFragment: random.next(below: 2) == 0, moreFragments: random.next(below: 2) == 0,
                fragmentOffset: random.next(below: 0x2000) * 8)
            var buffer = [UInt8](repeating: 0, count: repr.bufferLength)
            buffer.withUnsafeMutableBytes { repr.emit(into: $0) }
            #expect(F.referenceChecksum(Array(buffer[0..<20])) == 0)
            let parsed = try buffer.withUnsafeBytes { b throws(WireError) in try IPv4Repr.parse(bytes: b) }
            #expect(parsed == repr)
        }
    }

    @Test func everyTruncationIsRefused() {
        let packet = F.pingIPv4
        for length in 0..<packet.count {
            #expect(Self.view(Array(packet[0..<length])) == .truncated)
            #expect(Self.parse(Array(packet[0..<length])) == .truncated)
        }
    }

    @Test func headerLengthBelowFiveIsMalformed() {
        for ihl in 0...4 as ClosedRange<UInt8> {
            var bytes = F.pingIPv4
            bytes[0] = 0x40 | ihl
            #expect(Self.view(bytes) == .malformed)
        }
    }

    @Test func headerLengthBeyondBufferIsTruncated() {
        // 15 × 4 = 60 > 40 bytes of buffer (total length says 40).
        var bytes = Array(F.pingIPv4[0..<40])
        bytes[0] = 0x4F; bytes[2] = 0; bytes[3] = 40
        #expect(Self.view(bytes) == .truncated)
        // Header exactly the buffer: accepted, empty payload.
        var exact = [UInt8](repeating: 0, count: 60)
        exact[0] = 0x4F; exact[3] = 60
        Self.fixChecksum(&exact)
        #expect(Self.parse(exact) == nil)
    }

    @Test func totalLengthOutOfRange() {
        for total in [0, 1, 19] as [UInt16] {
            var bytes = F.pingIPv4
            bytes[2] = UInt8(total >> 8); bytes[3] = UInt8(total & 0xFF)
            #expect(Self.view(bytes) == .malformed)
        }
        var options = F.pingIPv4
        options[0] = 0x46; options[3] = 23  // total length 23 < 24-byte header
        #expect(Self.view(options) == .malformed)
        for total in [85, 0x100, 0xFFFF] as [UInt16] {
            var bytes = F.pingIPv4
            bytes[2] = UInt8(total >> 8); bytes[3] = UInt8(total & 0xFF)
            #expect(Self.view(bytes) == .truncated)
        }
    }

    @Test func wrongVersionIsMalformed() {
        for version in [0, 1, 5, 6, 15] as [UInt8] {
            var bytes = F.pingIPv4
            bytes[0] = version << 4 | 5
            #expect(Self.view(bytes) == .malformed)
        }
    }

    @Test func badChecksumIsRefusedUnlessSkipped() {
        var bytes = F.pingIPv4
        bytes[10] ^= 0x01
        #expect(Self.parse(bytes) == .badChecksum)
        #expect(Self.parse(bytes, verifyChecksum: false) == nil)
        var field = F.pingIPv4
        field[8] = 63  // TTL changed, checksum not
        #expect(Self.parse(field) == .badChecksum)
        // The payload is not covered.
        var payload = F.pingIPv4
        payload[30] ^= 0xFF
        #expect(Self.parse(payload) == nil)
    }

    @Test func optionsAreSkipped() throws {
        var random = SplitMix64(seed: 6)
        for ihl in 6...15 {
            let headerLength = ihl * 4
            let payload = (0..<13).map { UInt8($0 + 100) }
            var bytes = Array(F.pingIPv4[0..<20])
            bytes[0] = 0x40 | UInt8(ihl)
            let total = headerLength + payload.count
            bytes[2] = UInt8(total >> 8); bytes[3] = UInt8(total & 0xFF)
            bytes += (20..<headerLength).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            bytes += payload
            Self.fixChecksum(&bytes)
            try bytes.withUnsafeBytes { buffer in
                let packet = try IPv4Packet(checking: buffer)
                #expect(packet.headerLength == headerLength)
                #expect(Array(packet.options) == Array(bytes[20..<headerLength]))
                #expect(Array(packet.payload) == payload)
                let repr = try IPv4Repr.parse(packet)
                #expect(repr.payloadLength == payload.count)
                #expect(repr.source == F.guestIP && repr.destination == F.gatewayIP && repr.proto == .icmp)
                #expect(repr.bufferLength == 20 + payload.count)  // re-emitted without options
            }
        }
    }

    @Test func ethernetPaddingIsIgnored() throws {
        // A 28-byte echo request (no data) padded to the 60-byte Ethernet minimum with junk.
        let ip = IPv4Repr(source: F.guestIP, destination: F.gatewayIP, proto: .icmp, payloadLength: 8)
        let icmp = ICMPv4Repr.echoRequest(identifier: 1, sequence: 2, data: UnsafeRawBufferPointer(start: nil, count: 0))
        let ethernet = EthernetRepr(destination: F.gatewayMAC, source: F.guestMAC, etherType: .ipv4)
        var frame = [UInt8](repeating: 0x5A, count: 60)
        frame.withUnsafeMutableBytes { buffer in
            ethernet.emit(into: buffer)
            ip.emit(into: buffer.slice(14..<60))
            icmp.emit(into: buffer.slice(34..<60))
        }
        try frame.withUnsafeBytes { buffer in
            let ipPacket = try IPv4Packet(checking: EthernetFrame(checking: buffer).payload)
            #expect(ipPacket.bytes.count == 46 && ipPacket.totalLength == 28)
            #expect(ipPacket.payload.count == 8)
            #expect(try IPv4Repr.parse(ipPacket) == ip)
            guard case .echoRequest(1, 2, let data) = try ICMPv4Repr.parse(ICMPv4Packet(checking: ipPacket.payload)) else {
                Issue.record("not an echo request"); return
            }
            #expect(data.count == 0)
        }
    }

    @Test func fragmentsAreFlagged() throws {
        func parse(flags: UInt16) throws -> IPv4Repr {
            var bytes = F.pingIPv4
            bytes[6] = UInt8(flags >> 8); bytes[7] = UInt8(flags & 0xFF)
            Self.fixChecksum(&bytes)
            return try bytes.withUnsafeBytes { b throws(WireError) in try IPv4Repr.parse(bytes: b) }
        }
        let first = try parse(flags: 0x2000)  // MF, offset 0
        #expect(first.isFragment && first.moreFragments && first.fragmentOffset == 0)
        let middle = try parse(flags: 0x2000 | 185)  // MF, offset 1480
        #expect(middle.isFragment && middle.fragmentOffset == 1480)
        let last = try parse(flags: 0x0001)  // offset 8, no MF
        #expect(last.isFragment && !last.moreFragments && last.fragmentOffset == 8)
        let whole = try parse(flags: 0x4000)  // DF only
        #expect(!whole.isFragment && whole.dontFragment)
        let maximum = try parse(flags: 0x1FFF)
        #expect(maximum.fragmentOffset == 0x1FFF * 8)
    }

    @Test func dscpAndECN() throws {
        var bytes = F.pingIPv4
        bytes[1] = 46 << 2 | 0b11  // EF, CE
        Self.fixChecksum(&bytes)
        let repr = try bytes.withUnsafeBytes { b throws(WireError) in try IPv4Repr.parse(bytes: b) }
        #expect(repr.dscp == 46 && repr.ecn == 3)
        var emitted = [UInt8](repeating: 0, count: 20)
        emitted.withUnsafeMutableBytes { repr.emit(into: $0) }
        #expect(emitted == Array(bytes[0..<20]))
    }

    @Test func protocolNumbers() {
        #expect(IPProtocol(rawValue: 1) == .icmp && IPProtocol(rawValue: 6) == .tcp && IPProtocol(rawValue: 17) == .udp)
        #expect(IPProtocol(rawValue: 89) == .other(89) && IPProtocol.other(89).rawValue == 89)
    }
}

/// The word-at-a-time checksum against the textbook byte-pair loop, at every length and
/// alignment, split into pieces the way pseudo-header + header + payload are summed.
@Suite struct InternetChecksumTests {
    static func reference(_ pieces: [[UInt8]]) -> UInt16 {
        var sum: UInt64 = 0
        for piece in pieces {
            var index = 0
            while index + 1 < piece.count {
                sum += UInt64(piece[index]) << 8 | UInt64(piece[index + 1])
                index += 2
            }
            if index < piece.count { sum += UInt64(piece[index]) << 8 }
        }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    @Test func matchesTheByteLoopAtEveryLengthAndAlignment() {
        var generator = SplitMix64(seed: 1071)
        let pool = (0..<1600).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        for length in 0..<80 {
            for offset in 0..<8 {
                let bytes = Array(pool[offset..<(offset + length)])
                bytes.withUnsafeBytes { #expect(InternetChecksum.of($0) == Self.reference([bytes]), "\(length)/\(offset)") }
            }
        }
        for _ in 0..<200 {
            let cuts = (0..<3).map { _ in Int(generator.next() % 1500) }.sorted()
            let pieces = [Array(pool[0..<cuts[0]]), Array(pool[cuts[0]..<cuts[1]]), Array(pool[cuts[1]..<cuts[2]])]
            var checksum = InternetChecksum()
            for piece in pieces { piece.withUnsafeBytes { checksum.add($0) } }
            #expect(checksum.value == Self.reference(pieces))
        }
        let ones = [UInt8](repeating: 0xFF, count: 1500)
        ones.withUnsafeBytes { #expect(InternetChecksum.of($0) == Self.reference([ones])) }
    }

    @Test func addressesPrintDottedDecimal() {
        #expect(IPv4Address(10, 0, 2, 15).description == "10.0.2.15")
        #expect(IPv4Address(0, 0, 0, 0).description == "0.0.0.0")
        #expect(IPv4Address(255, 255, 255, 255).description == "255.255.255.255")
        #expect(IPv4Address(192, 168, 100, 9).description == "192.168.100.9")
    }
}
