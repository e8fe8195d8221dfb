// ICMPv4 view and representation: a captured Linux ping, a published vector, echo reply
// checksum, unreachable/time exceeded, unknown types, bad checksums, every truncation.
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct WireICMPTests {
    typealias F = WireFixtures

    static func parse(_ bytes: [UInt8]) -> WireErrorKind? {
        F.failure(bytes) { b throws(WireError) in try ICMPv4Repr.parse(bytes: b) }
    }

    static func emit(_ repr: ICMPv4Repr) -> [UInt8] {
        var buffer = [UInt8](repeating: 0xEE, count: repr.bufferLength)
        buffer.withUnsafeMutableBytes { repr.emit(into: $0) }
        return buffer
    }

    @Test func parsesCapturedLinuxPing() throws {
        try F.pingICMP.withUnsafeBytes { buffer in
            let packet = try ICMPv4Packet(checking: buffer)
            #expect(packet.type == 8 && packet.code == 0 && packet.checksum == 0xB20C && packet.isChecksumValid)
            guard case .echoRequest(let identifier, let sequence, let data) = try ICMPv4Repr.parse(packet) else {
                Issue.record("not an echo request"); return
            }
            #expect(identifier == 0x1C46 && sequence == 1)
            #expect(data.count == 56)
            #expect(Array(data[16...]) == Array(0x10...0x37))
        }
    }

    @Test func echoReplyToCapturedPing() throws {
        let reply = try F.pingICMP.withUnsafeBytes { buffer throws(WireError) -> [UInt8] in
            guard case .echoRequest(let identifier, let sequence, let data) = try ICMPv4Repr.parse(bytes: buffer) else {
                throw .malformed("not an echo request")
            }
            return Self.emit(.echoReply(identifier: identifier, sequence: sequence, data: data))
        }
        // Only the type changes (8 → 0), so by RFC 1624 the checksum rises by 0x0800: 0xba0c.
        var expected = F.pingICMP
        expected[0] = 0; expected[2] = 0xBA; expected[3] = 0x0C
        #expect(reply == expected)
        #expect(Self.parse(reply) == nil)
    }

    @Test func echoReplyBuiltInPlace() throws {
        // The reply overwrites the request in its own buffer: data already in place.
        var buffer = F.pingICMP
        try buffer.withUnsafeMutableBytes { bytes in
            guard case .echoRequest(let identifier, let sequence, let data) = try ICMPv4Repr.parse(bytes: UnsafeRawBufferPointer(bytes)) else {
                Issue.record("not an echo request"); return
            }
            ICMPv4Repr.echoReply(identifier: identifier, sequence: sequence, data: data).emit(into: bytes)
        }
        #expect(buffer[0] == 0 && buffer[2] == 0xBA && buffer[3] == 0x0C)
        #expect(Array(buffer[4...]) == Array(F.pingICMP[4...]))
    }

    @Test func smoltcpEchoVector() throws {
        // smoltcp src/wire/icmpv4.rs ECHO_PACKET_BYTES: id 0x1234, seq 0xabcd, data aa 00 00 ff.
        let vector = F.bytes(hex: "0800 8efe 1234 abcd aa0000ff")
        try vector.withUnsafeBytes { buffer in
            guard case .echoRequest(0x1234, 0xABCD, let data) = try ICMPv4Repr.parse(bytes: buffer) else {
                Issue.record("wrong echo fields"); return
            }
            #expect(Array(data) == [0xAA, 0x00, 0x00, 0xFF])
            #expect(Self.emit(.echoRequest(identifier: 0x1234, sequence: 0xABCD, data: data)) == vector)
        }
    }

    @Test func roundTripEcho() throws {
        var random = SplitMix64(seed: 8)
        for round in 0..<300 {
            let data = (0..<random.next(below: 100)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let identifier = UInt16(truncatingIfNeeded: random.next())
            let sequence = UInt16(truncatingIfNeeded: random.next())
            let bytes = data.withUnsafeBytes { data in
                Self.emit(round % 2 == 0 ? .echoRequest(identifier: identifier, sequence: sequence, data: data)
                                         : .echoReply(identifier: identifier, sequence: sequence, data: data))
            }
            #expect(F.referenceChecksum(bytes) == 0)
            try bytes.withUnsafeBytes { buffer in
                switch try ICMPv4Repr.parse(bytes: buffer) {
                case .echoRequest(let i, let s, let d) where round % 2 == 0,
                     .echoReply(let i, let s, let d) where round % 2 == 1:
                    #expect(i == identifier && s == sequence && Array(d) == data)
                default:
                    Issue.record("wrong message kind")
                }
            }
        }
    }

    @Test func destinationUnreachableQuotesOriginal() throws {
        // Port unreachable for the captured DNS query: its header and first 8 payload bytes.
        try F.dnsIPv4.withUnsafeBytes { original in
            let quoted = ICMPv4Repr.quotedPrefix(of: try IPv4Packet(checking: original))
            #expect(Array(quoted) == Array(F.dnsIPv4[0..<28]))
            let bytes = Self.emit(.destinationUnreachable(code: ICMPv4Repr.UnreachableCode.port, original: quoted))
            #expect(bytes.count == 36 && bytes[0] == 3 && bytes[1] == 3)
            #expect(Array(bytes[4..<8]) == [0, 0, 0, 0])
            #expect(F.referenceChecksum(bytes) == 0)
            try bytes.withUnsafeBytes { buffer in
                guard case .destinationUnreachable(3, let quotedBack) = try ICMPv4Repr.parse(bytes: buffer) else {
                    Issue.record("not port unreachable"); return
                }
                #expect(Array(quotedBack) == Array(F.dnsIPv4[0..<28]))
                // The quoted header is still a readable IPv4 header.
                #expect(IPv4Address(reading: quotedBack, at: 16) == F.dnsIP)
            }
        }
    }

    @Test func quotedPrefixOfShortPacket() throws {
        // A header-only packet quotes just its header.
        var bytes = Array(F.pingIPv4[0..<20])
        bytes[3] = 20
        try bytes.withUnsafeBytes { buffer in
            let packet = try IPv4Packet(checking: buffer)
            #expect(ICMPv4Repr.quotedPrefix(of: packet).count == 20)
        }
    }

    @Test func timeExceededRoundTrip() throws {
        try F.pingIPv4.withUnsafeBytes { original in
            let quoted = ICMPv4Repr.quotedPrefix(of: try IPv4Packet(checking: original))
            let bytes = Self.emit(.timeExceeded(code: 0, original: quoted))
            #expect(bytes[0] == 11 && F.referenceChecksum(bytes) == 0)
            try bytes.withUnsafeBytes { buffer in
                guard case .timeExceeded(0, let quotedBack) = try ICMPv4Repr.parse(bytes: buffer) else {
                    Issue.record("not time exceeded"); return
                }
                #expect(Array(quotedBack) == Array(F.pingIPv4[0..<28]))
            }
        }
    }

    @Test func unknownTypesParseAsOther() throws {
        for (type, code) in [(13, 0), (5, 1), (255, 255), (42, 7)] as [(UInt8, UInt8)] {
            var bytes: [UInt8] = [type, code, 0, 0, 1, 2, 3, 4, 5, 6, 7]
            let sum = F.referenceChecksum(bytes)
            bytes[2] = UInt8(sum >> 8); bytes[3] = UInt8(sum & 0xFF)
            try bytes.withUnsafeBytes { buffer in
                guard case .other(type, code) = try ICMPv4Repr.parse(bytes: buffer) else {
                    Issue.record("not other"); return
                }
            }
            let emitted = Self.emit(.other(type: type, code: code))
            #expect(emitted.count == 8 && emitted[0] == type && emitted[1] == code && F.referenceChecksum(emitted) == 0)
        }
    }

    @Test func echoWithNonZeroCodeIsMalformed() {
        var bytes = F.pingICMP
        bytes[1] = 1
        bytes[2] = 0; bytes[3] = 0
        let sum = F.referenceChecksum(bytes)
        bytes[2] = UInt8(sum >> 8); bytes[3] = UInt8(sum & 0xFF)
        #expect(Self.parse(bytes) == .malformed)
    }

    @Test func badChecksumIsRefusedUnlessSkipped() {
        for index in [0, 3, 5, 20, 63] {
            var bytes = F.pingICMP
            bytes[index] ^= 0x10
            #expect(Self.parse(bytes) == .badChecksum)
            #expect(F.failure(bytes) { b throws(WireError) in try ICMPv4Repr.parse(bytes: b, verifyChecksum: false) } != .badChecksum)
        }
    }

    @Test func everyTruncationIsRefused() {
        // Alone, an ICMP message has no length field: short ones are truncated, longer
        // prefixes fail the checksum. Inside IPv4 the total length catches them first.
        let message = F.pingICMP
        for length in 0..<message.count {
            let expected: WireErrorKind = length < 8 ? .truncated : .badChecksum
            #expect(Self.parse(Array(message[0..<length])) == expected)
        }
        let packet = F.pingIPv4
        for length in 0..<packet.count {
            #expect(F.failure(Array(packet[0..<length])) { b throws(WireError) in
                try ICMPv4Repr.parse(ICMPv4Packet(checking: IPv4Packet(checking: b).payload))
            } == .truncated)
        }
    }
}
