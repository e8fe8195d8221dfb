// Shared fixtures for the Wire*Tests (captured packets, hex, error kinds) and the fuzz
// loops: random and mutated buffers through every wire parser, which must never trap.
import Testing
import TestSupport
@testable import Swiftlet

/// What kind of WireError a parse produced, whatever its reason.
enum WireErrorKind: Equatable {
    case truncated, malformed, badChecksum, unsupported, bufferTooSmall
}

extension WireError {
    var kind: WireErrorKind {
        switch self {
        case .truncated: .truncated
        case .malformed: .malformed
        case .badChecksum: .badChecksum
        case .unsupported: .unsupported
        case .bufferTooSmall: .bufferTooSmall
        }
    }
}

enum WireFixtures {
    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8).filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") }
        return stride(from: 0, to: digits.count, by: 2).map {
            UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16)!
        }
    }

    /// nil when `parse` accepts `bytes`, else the kind of error it threw.
    static func failure<T>(_ bytes: [UInt8], _ parse: (UnsafeRawBufferPointer) throws(WireError) -> T) -> WireErrorKind? {
        bytes.withUnsafeBytes { buffer -> WireErrorKind? in
            do throws(WireError) {
                _ = try parse(buffer)
                return nil
            } catch {
                return error.kind
            }
        }
    }

    /// An independent RFC 1071 checksum, for checking the library's.
    static func referenceChecksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index < bytes.count {
            let high = UInt32(bytes[index])
            let low = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            sum += high << 8 | low
            index += 2
        }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    static let guestMAC = MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56)
    static let gatewayMAC = MACAddress(0x52, 0x54, 0x00, 0x12, 0x35, 0x02)
    static let guestIP = IPv4Address(10, 0, 2, 15)
    static let gatewayIP = IPv4Address(10, 0, 2, 2)
    static let dnsIP = IPv4Address(10, 0, 2, 3)

    /// ARP request "who has 10.0.2.2? tell 10.0.2.15", broadcast, padded to 60 bytes as a
    /// NIC sends it (padding non-zero here to prove it is ignored).
    static let arpRequestFrame = bytes(hex: """
        ffffffffffff 525400123456 0806
        0001 0800 06 04 0001 525400123456 0a00020f 000000000000 0a000202
        a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5
        """)

    /// Linux `ping -c1 10.0.2.2` from 10.0.2.15: ICMP echo request, id 0x1c46, seq 1, 56 data
    /// bytes (16-byte struct timeval, then 0x10...0x37). IPv4 checksum 0xd85d, ICMP checksum
    /// 0xb20c (computed independently with a Python RFC 1071 implementation).
    static let pingFrame = bytes(hex: """
        525400123502 525400123456 0800
        4500 0054 4a3b 4000 40 01 d85d 0a00020f 0a000202
        08 00 b20c 1c46 0001
        b2a1f06500000000 c4d1030000000000
        101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637
        """)

    /// DNS query "example.com IN A" (id 0x1234, RD) from 10.0.2.15:53535 to 10.0.2.3:53.
    /// IPv4 checksum 0x62a2, UDP checksum 0x349c (computed independently, as above).
    static let dnsQueryFrame = bytes(hex: """
        525400123502 525400123456 0800
        4500 0039 0001 0000 40 11 62a2 0a00020f 0a000203
        d11f 0035 0025 349c
        1234 0100 0001 0000 0000 0000 076578616d706c6503636f6d00 0001 0001
        """)

    static var pingIPv4: [UInt8] { Array(pingFrame[14...]) }
    static var pingICMP: [UInt8] { Array(pingFrame[34...]) }
    static var dnsIPv4: [UInt8] { Array(dnsQueryFrame[14...]) }
    static var dnsUDP: [UInt8] { Array(dnsQueryFrame[34...]) }
    static var arpPacket: [UInt8] { Array(arpRequestFrame[14..<42]) }
}

// MARK: - Fuzzing

/// Reads every accessor of every view `bytes` passes, and every Repr parse, as each layer would.
/// Returns a value depending on all of them so nothing is skipped.
@discardableResult
func exerciseAllParsers(_ bytes: UnsafeRawBufferPointer) -> Int {
    var seen = 0
    if let frame = try? EthernetFrame(checking: bytes) {
        seen &+= frame.destination.hashValue &+ frame.source.hashValue &+ Int(frame.etherTypeValue)
        seen &+= frame.payload.count
        _ = frame.etherType
        _ = try? EthernetRepr.parse(frame)
    }
    if let arp = try? ARPPacket(checking: bytes) {
        seen &+= Int(arp.hardwareType) &+ Int(arp.protocolType) &+ arp.hardwareLength &+ arp.protocolLength
        seen &+= Int(arp.operationValue) &+ arp.packetLength
        seen &+= arp.senderHardwareBytes.reduce(0) { $0 &+ Int($1) } &+ arp.senderProtocolBytes.reduce(0) { $0 &+ Int($1) }
        seen &+= arp.targetHardwareBytes.reduce(0) { $0 &+ Int($1) } &+ arp.targetProtocolBytes.reduce(0) { $0 &+ Int($1) }
        if let repr = try? ARPRepr.parse(arp) { seen &+= repr.bufferLength }
    }
    if let ip = try? IPv4Packet(checking: bytes) {
        seen &+= Int(ip.version) &+ ip.headerLength &+ Int(ip.dscp) &+ Int(ip.ecn) &+ ip.totalLength
        seen &+= Int(ip.identification) &+ (ip.dontFragment ? 1 : 0) &+ (ip.moreFragments ? 1 : 0)
        seen &+= ip.fragmentOffset &+ Int(ip.timeToLive) &+ Int(ip.protocolValue) &+ Int(ip.checksum)
        seen &+= Int(ip.source.value) &+ Int(ip.destination.value)
        seen &+= ip.header.count &+ ip.options.reduce(0) { $0 &+ Int($1) } &+ ip.payload.reduce(0) { $0 &+ Int($1) }
        seen &+= ip.isChecksumValid ? 1 : 0
        _ = try? IPv4Repr.parse(ip)
        if let repr = try? IPv4Repr.parse(ip, verifyChecksum: false) {
            seen &+= repr.bufferLength &+ (repr.isFragment ? 1 : 0)
        }
    }
    if let icmp = try? ICMPv4Packet(checking: bytes) {
        seen &+= Int(icmp.type) &+ Int(icmp.code) &+ Int(icmp.checksum) &+ Int(icmp.restOfHeader)
        seen &+= Int(icmp.identifier) &+ Int(icmp.sequence) &+ icmp.data.reduce(0) { $0 &+ Int($1) }
        _ = try? ICMPv4Repr.parse(icmp)
        if let repr = try? ICMPv4Repr.parse(icmp, verifyChecksum: false) {
            seen &+= repr.bufferLength &+ Int(repr.type) &+ Int(repr.code) &+ repr.data.count
        }
    }
    if let udp = try? UDPDatagram(checking: bytes) {
        seen &+= Int(udp.sourcePort) &+ Int(udp.destinationPort) &+ udp.length &+ Int(udp.checksum)
        seen &+= udp.payload.reduce(0) { $0 &+ Int($1) }
        seen &+= udp.isChecksumValid(source: WireFixtures.guestIP, destination: WireFixtures.dnsIP) ? 1 : 0
        _ = try? UDPRepr.parse(udp, source: WireFixtures.guestIP, destination: WireFixtures.dnsIP)
        if let repr = try? UDPRepr.parse(udp, source: .any, destination: .any, verifyChecksum: false) {
            seen &+= repr.bufferLength
        }
    }
    return seen
}

/// The receive path: Ethernet → ARP or IPv4 → ICMP or UDP, each layer on the one below's payload.
@discardableResult
func exerciseReceivePath(_ bytes: UnsafeRawBufferPointer) -> Int {
    guard let frame = try? EthernetFrame(checking: bytes), let ethernet = try? EthernetRepr.parse(frame) else { return 0 }
    switch ethernet.etherType {
    case .arp:
        return exerciseAllParsers(frame.payload)
    case .ipv4:
        guard let ip = try? IPv4Packet(checking: frame.payload) else { return 1 }
        return exerciseAllParsers(frame.payload) &+ exerciseAllParsers(ip.payload)
    default:
        return 2
    }
}

@Suite struct WireFuzzTests {
    @Test func randomBuffersNeverTrap() {
        var random = SplitMix64(seed: 0x5717_1E7F_0A2B_C0DE)
        var accepted = 0
        for round in 0..<20_000 {
            var bytes = (0..<random.next(below: 101)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            // Steer a share of them past the first checks so deeper paths run too.
            switch round % 4 {
            case 1 where bytes.count > 0: bytes[0] = 0x40 | (bytes[0] & 0x0F)  // IPv4 version
            case 2 where bytes.count > 5:  // ARP Ethernet/IPv4 with random operation
                bytes[0] = 0; bytes[1] = 1; bytes[2] = 8; bytes[3] = 0; bytes[4] = 6; bytes[5] = 4
            case 3 where bytes.count > 13: bytes[12] = 0x08; bytes[13] = round % 8 == 3 ? 0x06 : 0x00
            default: break
            }
            bytes.withUnsafeBytes { buffer in
                accepted &+= exerciseAllParsers(buffer) == 0 ? 0 : 1
                exerciseReceivePath(buffer)
            }
        }
        #expect(accepted > 1000)
    }

    @Test func mutatedCapturesNeverTrap() {
        var random = SplitMix64(seed: 42)
        let captures = [WireFixtures.pingFrame, WireFixtures.dnsQueryFrame, WireFixtures.arpRequestFrame]
        var fullyParsed = 0
        for round in 0..<20_000 {
            var bytes = captures[round % captures.count]
            for _ in 0..<(1 + random.next(below: 4)) {
                bytes[random.next(below: bytes.count)] = UInt8(truncatingIfNeeded: random.next())
            }
            if random.next(below: 3) == 0 { bytes.removeLast(random.next(below: bytes.count + 1)) }
            bytes.withUnsafeBytes { buffer in
                if exerciseReceivePath(buffer) > 2 { fullyParsed += 1 }
            }
        }
        #expect(fullyParsed > 1000)
    }
}
