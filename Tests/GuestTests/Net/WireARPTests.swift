// ARP view and representation: a captured request, round trip, exact bytes, other hardware
// and protocol types or lengths, every truncation.
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct WireARPTests {
    typealias F = WireFixtures

    static func parse(_ bytes: [UInt8]) -> WireErrorKind? {
        F.failure(bytes) { b throws(WireError) in try ARPRepr.parse(bytes: b) }
    }

    @Test func parsesCapturedRequest() throws {
        try F.arpRequestFrame.withUnsafeBytes { buffer in
            let frame = try EthernetFrame(checking: buffer)
            #expect(frame.etherType == .arp)
            let packet = try ARPPacket(checking: frame.payload)  // padded: 46 bytes for 28
            #expect(packet.packetLength == 28)
            #expect(packet.hardwareType == 1 && packet.protocolType == 0x0800)
            let repr = try ARPRepr.parse(packet)
            #expect(repr == ARPRepr(operation: .request,
                                    senderHardwareAddress: F.guestMAC, senderProtocolAddress: F.guestIP,
                                    targetHardwareAddress: .zero, targetProtocolAddress: F.gatewayIP))
            #expect(Array(packet.senderHardwareBytes) == [0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
            #expect(Array(packet.targetProtocolBytes) == [10, 0, 2, 2])
        }
    }

    @Test func emitsCapturedBytesExactly() {
        let repr = ARPRepr(operation: .request,
                           senderHardwareAddress: F.guestMAC, senderProtocolAddress: F.guestIP,
                           targetHardwareAddress: .zero, targetProtocolAddress: F.gatewayIP)
        var buffer = [UInt8](repeating: 0xCC, count: repr.bufferLength)
        buffer.withUnsafeMutableBytes { repr.emit(into: $0) }
        #expect(buffer == F.arpPacket)
    }

    @Test func roundTripRequestAndReply() throws {
        var random = SplitMix64(seed: 11)
        for operation in [ARPOperation.request, .reply] {
            for _ in 0..<100 {
                let repr = ARPRepr(
                    operation: operation,
                    senderHardwareAddress: MACAddress(2, 0, 0, 0, UInt8(truncatingIfNeeded: random.next()), 1),
                    senderProtocolAddress: IPv4Address(UInt32(truncatingIfNeeded: random.next())),
                    targetHardwareAddress: MACAddress(2, 0, 0, 0, 0, UInt8(truncatingIfNeeded: random.next())),
                    targetProtocolAddress: IPv4Address(UInt32(truncatingIfNeeded: random.next())))
                var buffer = [UInt8](repeating: 0, count: repr.bufferLength)
                buffer.withUnsafeMutableBytes { repr.emit(into: $0) }
                let parsed = try buffer.withUnsafeBytes { b throws(WireError) in try ARPRepr.parse(bytes: b) }
                #expect(parsed == repr)
            }
        }
    }

    @Test func everyTruncationIsRefused() {
        let packet = F.arpPacket
        for length in 0..<packet.count {
            #expect(Self.parse(Array(packet[0..<length])) == .truncated)
        }
        #expect(Self.parse(packet) == nil)
    }

    @Test func otherLengthsAreMalformed() {
        // Long enough for whatever lengths are announced, so the lengths themselves are judged.
        let padded = F.arpPacket + [UInt8](repeating: 0, count: 600)
        for hardwareLength in [0, 4, 8, 255] as [UInt8] {
            var bytes = padded
            bytes[4] = hardwareLength
            #expect(Self.parse(bytes) == .malformed)
        }
        for protocolLength in [0, 6, 16, 255] as [UInt8] {
            var bytes = padded
            bytes[5] = protocolLength
            #expect(Self.parse(bytes) == .malformed)
        }
    }

    @Test func announcedLengthsBeyondBufferAreTruncated() {
        var bytes = F.arpPacket
        bytes[4] = 255; bytes[5] = 255
        #expect(F.failure(bytes) { b throws(WireError) in try ARPPacket(checking: b) } == .truncated)
        // A generic view over other lengths is fine when the buffer holds them.
        var ipv6Style = [UInt8](repeating: 0, count: 8 + 2 * (6 + 16))
        ipv6Style[0] = 0; ipv6Style[1] = 1; ipv6Style[2] = 0x86; ipv6Style[3] = 0xDD
        ipv6Style[4] = 6; ipv6Style[5] = 16
        ipv6Style.withUnsafeBytes { buffer in
            let packet = try? ARPPacket(checking: buffer)
            #expect(packet?.targetProtocolBytes.count == 16)
            #expect(packet?.packetLength == buffer.count)
        }
    }

    @Test func otherTypesAndOperationsAreUnsupported() {
        var hardware = F.arpPacket
        hardware[1] = 6  // IEEE 802
        #expect(Self.parse(hardware) == .unsupported)
        var proto = F.arpPacket
        proto[2] = 0x86; proto[3] = 0xDD
        #expect(Self.parse(proto) == .unsupported)
        for operation in [0, 3, 4, 8, 0xFFFF] as [UInt16] {
            var bytes = F.arpPacket
            bytes[6] = UInt8(operation >> 8); bytes[7] = UInt8(operation & 0xFF)
            #expect(Self.parse(bytes) == .unsupported)
        }
    }
}
