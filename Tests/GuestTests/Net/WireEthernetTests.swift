// Ethernet II view and representation: captured frames, round trip, VLAN and 802.3 refusal,
// every truncation.
import Testing
import TestSupport
@testable import Swiftlet

@Suite struct WireEthernetTests {
    typealias F = WireFixtures

    @Test func parsesCapturedPingFrame() throws {
        try F.pingFrame.withUnsafeBytes { buffer in
            let frame = try EthernetFrame(checking: buffer)
            #expect(frame.destination == F.gatewayMAC)
            #expect(frame.source == F.guestMAC)
            #expect(frame.etherType == .ipv4)
            #expect(Array(frame.payload) == F.pingIPv4)
            let repr = try EthernetRepr.parse(frame)
            #expect(repr == EthernetRepr(destination: F.gatewayMAC, source: F.guestMAC, etherType: .ipv4))
        }
    }

    @Test func parsesCapturedARPFrame() throws {
        let repr = try F.arpRequestFrame.withUnsafeBytes { buffer throws(WireError) in
            try EthernetRepr.parse(bytes: buffer)
        }
        #expect(repr.destination == .broadcast && repr.destination.isBroadcast)
        #expect(repr.etherType == .arp)
    }

    @Test func roundTrip() throws {
        var random = SplitMix64(seed: 7)
        for _ in 0..<200 {
            func mac() -> MACAddress {
                MACAddress(UInt8(truncatingIfNeeded: random.next()), UInt8(truncatingIfNeeded: random.next()),
                           UInt8(truncatingIfNeeded: random.next()), UInt8(truncatingIfNeeded: random.next()),
                           UInt8(truncatingIfNeeded: random.next()), UInt8(truncatingIfNeeded: random.next()))
            }
            let types: [EtherType] = [.ipv4, .arp, .ipv6, .other(0x88CC)]
            let repr = EthernetRepr(destination: mac(), source: mac(), etherType: types[random.next(below: 4)])
            var buffer = [UInt8](repeating: 0xEE, count: repr.bufferLength + 3)
            buffer.withUnsafeMutableBytes { repr.emit(into: $0) }
            let parsed = try buffer.withUnsafeBytes { bytes throws(WireError) in try EthernetRepr.parse(bytes: bytes) }
            #expect(parsed == repr)
            #expect(Array(buffer[14...]) == [0xEE, 0xEE, 0xEE])
        }
    }

    @Test func emitsExactCapturedHeader() {
        var buffer = [UInt8](repeating: 0, count: 14)
        buffer.withUnsafeMutableBytes {
            EthernetRepr(destination: F.gatewayMAC, source: F.guestMAC, etherType: .ipv4).emit(into: $0)
        }
        #expect(buffer == Array(F.pingFrame[0..<14]))
    }

    @Test func etherTypeValues() {
        #expect(EtherType(rawValue: 0x0800) == .ipv4)
        #expect(EtherType(rawValue: 0x0806) == .arp)
        #expect(EtherType(rawValue: 0x86DD) == .ipv6)
        #expect(EtherType(rawValue: 0x1234) == .other(0x1234))
        for type in [EtherType.ipv4, .arp, .ipv6, .other(0x88CC)] {
            #expect(EtherType(rawValue: type.rawValue) == type)
        }
    }

    @Test func headerOnlyFrameHasEmptyPayload() throws {
        let header = Array(F.pingFrame[0..<14])
        try header.withUnsafeBytes { buffer in
            let frame = try EthernetFrame(checking: buffer)
            #expect(frame.payload.count == 0)
        }
    }

    @Test func everyTruncationIsRefused() {
        for length in 0..<EthernetFrame.headerLength {
            #expect(F.failure(Array(F.pingFrame[0..<length])) { b throws(WireError) in try EthernetFrame(checking: b) } == .truncated)
            #expect(F.failure(Array(F.pingFrame[0..<length])) { b throws(WireError) in try EthernetRepr.parse(bytes: b) } == .truncated)
        }
    }

    @Test func vlanTaggedFramesAreUnsupported() {
        for tpid: [UInt8] in [[0x81, 0x00], [0x88, 0xA8], [0x91, 0x00]] {
            // dst, src, TPID, TCI (VLAN 5), then the real EtherType and an IPv4 packet.
            let frame = Array(F.pingFrame[0..<12]) + tpid + [0x00, 0x05] + Array(F.pingFrame[12...])
            #expect(F.failure(frame) { b throws(WireError) in try EthernetFrame(checking: b) } == .unsupported)
        }
    }

    @Test func ieee8023LengthFramesAreUnsupported() {
        var frame = F.pingFrame
        frame[12] = 0x00; frame[13] = 0x40
        #expect(F.failure(frame) { b throws(WireError) in try EthernetFrame(checking: b) } == nil)
        #expect(F.failure(frame) { b throws(WireError) in try EthernetRepr.parse(bytes: b) } == .unsupported)
    }

    @Test func ipv6IsKnownByName() throws {
        var frame = F.pingFrame
        frame[12] = 0x86; frame[13] = 0xDD
        let repr = try frame.withUnsafeBytes { b throws(WireError) in try EthernetRepr.parse(bytes: b) }
        #expect(repr.etherType == .ipv6)
    }

    @Test func macAddressesPrintLowercaseHex() {
        #expect(MACAddress(0x02, 0x00, 0x0a, 0xff, 0x10, 0x9c).description == "02:00:0a:ff:10:9c")
        #expect(MACAddress(0, 0, 0, 0, 0, 0).description == "00:00:00:00:00:00")
    }
}
