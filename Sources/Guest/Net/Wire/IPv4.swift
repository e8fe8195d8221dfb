// IPv4 (RFC 791): a checked zero-copy view (`IPv4Packet`) and its representation (`IPv4Repr`).
//
// Options are skipped (the header length is honoured, their contents ignored); emitted
// headers never carry options (IHL 5). Trailing bytes after the total length — Ethernet
// padding of short packets — are not part of the payload.
//
// Fragments: the stack does not reassemble. A packet with More Fragments set or a non-zero
// fragment offset parses normally and reports `isFragment`; the rule for the stack is that
// fragments are dropped and counted (in the interface statistics), never delivered.

/// The IP protocol number (the IPv4 "protocol" field).
public enum IPProtocol: Equatable, Sendable {
    case icmp
    case tcp
    case udp
    case other(UInt8)

    public init(rawValue: UInt8) {
        switch rawValue {
        case 1: self = .icmp
        case 6: self = .tcp
        case 17: self = .udp
        default: self = .other(rawValue)
        }
    }

    public var rawValue: UInt8 {
        switch self {
        case .icmp: 1
        case .tcp: 6
        case .udp: 17
        case .other(let value): value
        }
    }
}

/// A view over untrusted bytes holding one IPv4 packet.
///
/// `init(checking:)` validates version, header length and total length once; afterwards no
/// accessor can trap. It does not verify the checksum (see `isChecksumValid`, `IPv4Repr.parse`).
public struct IPv4Packet {
    public static let minimumHeaderLength = 20

    /// The buffer as given, possibly longer than the packet (padding).
    public let bytes: UnsafeRawBufferPointer

    enum Field {
        static let versionAndHeaderLength = 0
        static let dscpAndECN = 1
        static let totalLength = 2
        static let identification = 4
        static let flagsAndFragmentOffset = 6
        static let timeToLive = 8
        static let proto = 9
        static let checksum = 10
        static let source = 12
        static let destination = 16
    }

    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= IPv4Packet.minimumHeaderLength else { throw .truncated }
        guard bytes[Field.versionAndHeaderLength] >> 4 == 4 else { throw .malformed("IPv4 version") }
        let headerLength = Int(bytes[Field.versionAndHeaderLength] & 0x0F) * 4
        guard headerLength >= IPv4Packet.minimumHeaderLength else { throw .malformed("IPv4 header length") }
        guard headerLength <= bytes.count else { throw .truncated }
        let totalLength = Int(bytes.readUInt16(at: Field.totalLength))
        guard totalLength >= headerLength else { throw .malformed("IPv4 total length") }
        guard totalLength <= bytes.count else { throw .truncated }
        self.bytes = bytes
    }

    public var version: UInt8 { bytes[Field.versionAndHeaderLength] >> 4 }
    /// Header length in bytes (IHL × 4, options included): 20...60.
    public var headerLength: Int { Int(bytes[Field.versionAndHeaderLength] & 0x0F) * 4 }
    public var dscp: UInt8 { bytes[Field.dscpAndECN] >> 2 }
    public var ecn: UInt8 { bytes[Field.dscpAndECN] & 0x03 }
    /// The packet's length, header included; at most `bytes.count`.
    public var totalLength: Int { Int(bytes.readUInt16(at: Field.totalLength)) }
    public var identification: UInt16 { bytes.readUInt16(at: Field.identification) }
    public var dontFragment: Bool { bytes[Field.flagsAndFragmentOffset] & 0x40 != 0 }
    public var moreFragments: Bool { bytes[Field.flagsAndFragmentOffset] & 0x20 != 0 }
    /// Fragment offset in bytes (the field counts 8-byte units).
    public var fragmentOffset: Int { Int(bytes.readUInt16(at: Field.flagsAndFragmentOffset) & 0x1FFF) * 8 }
    public var timeToLive: UInt8 { bytes[Field.timeToLive] }
    public var protocolValue: UInt8 { bytes[Field.proto] }
    public var checksum: UInt16 { bytes.readUInt16(at: Field.checksum) }
    public var source: IPv4Address { IPv4Address(reading: bytes, at: Field.source) }
    public var destination: IPv4Address { IPv4Address(reading: bytes, at: Field.destination) }

    /// The header, options included.
    public var header: UnsafeRawBufferPointer { bytes.slice(0..<headerLength) }
    /// Option bytes (empty when IHL is 5).
    public var options: UnsafeRawBufferPointer {
        bytes.slice(IPv4Packet.minimumHeaderLength..<headerLength)
    }
    /// The payload, bounded by the total length (padding excluded).
    public var payload: UnsafeRawBufferPointer { bytes.slice(headerLength..<totalLength) }

    /// Whether the header checksum verifies.
    public var isChecksumValid: Bool { InternetChecksum.of(header) == 0 }
}

/// An IPv4 header as validated values. Parsing drops options; emitting writes IHL 5.
public struct IPv4Repr: Equatable, Sendable {
    public var source: IPv4Address
    public var destination: IPv4Address
    public var proto: IPProtocol
    /// Bytes after the header.
    public var payloadLength: Int
    public var timeToLive: UInt8
    /// Differentiated services code point (6 bits).
    public var dscp: UInt8
    /// Explicit congestion notification (2 bits).
    public var ecn: UInt8
    public var identification: UInt16
    public var dontFragment: Bool
    public var moreFragments: Bool
    /// In bytes; a multiple of 8.
    public var fragmentOffset: Int

    public init(source: IPv4Address, destination: IPv4Address, proto: IPProtocol,
                payloadLength: Int, timeToLive: UInt8 = 64, dscp: UInt8 = 0, ecn: UInt8 = 0,
                identification: UInt16 = 0, dontFragment: Bool = true, moreFragments: Bool = false,
                fragmentOffset: Int = 0) {
        self.source = source
        self.destination = destination
        self.proto = proto
        self.payloadLength = payloadLength
        self.timeToLive = timeToLive
        self.dscp = dscp
        self.ecn = ecn
        self.identification = identification
        self.dontFragment = dontFragment
        self.moreFragments = moreFragments
        self.fragmentOffset = fragmentOffset
    }

    /// Part of a fragmented datagram: the stack drops and counts these.
    public var isFragment: Bool { moreFragments || fragmentOffset != 0 }

    /// Verifies the header checksum unless `verifyChecksum` is false (for packets this
    /// stack built itself, or a device that already checked it).
    public static func parse(_ packet: IPv4Packet, verifyChecksum: Bool = true) throws(WireError) -> IPv4Repr {
        if verifyChecksum {
            guard packet.isChecksumValid else { throw .badChecksum }
        }
        return IPv4Repr(source: packet.source, destination: packet.destination,
                        proto: IPProtocol(rawValue: packet.protocolValue),
                        payloadLength: packet.totalLength - packet.headerLength,
                        timeToLive: packet.timeToLive, dscp: packet.dscp, ecn: packet.ecn,
                        identification: packet.identification,
                        dontFragment: packet.dontFragment, moreFragments: packet.moreFragments,
                        fragmentOffset: packet.fragmentOffset)
    }

    public static func parse(bytes: UnsafeRawBufferPointer, verifyChecksum: Bool = true) throws(WireError) -> IPv4Repr {
        try parse(IPv4Packet(checking: bytes), verifyChecksum: verifyChecksum)
    }

    /// Header length `emit` writes (no options).
    public static let headerLength = 20
    public var headerLength: Int { IPv4Repr.headerLength }
    /// Header and payload.
    public var bufferLength: Int { IPv4Repr.headerLength + payloadLength }

    /// Writes the 20-byte header (checksum included) at the start of `buffer`; the payload
    /// goes after it. A buffer shorter than `headerLength`, a total length over 65535, or
    /// out-of-range DSCP/ECN/fragment offset are programming errors (trap).
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= IPv4Repr.headerLength, "IPv4 emit: buffer too small")
        precondition(payloadLength >= 0 && bufferLength <= 0xFFFF, "IPv4 emit: bad payload length")
        precondition(dscp < 64 && ecn < 4, "IPv4 emit: DSCP/ECN out of range")
        precondition(fragmentOffset >= 0 && fragmentOffset % 8 == 0 && fragmentOffset / 8 <= 0x1FFF,
                     "IPv4 emit: bad fragment offset")
        typealias Field = IPv4Packet.Field
        buffer[Field.versionAndHeaderLength] = 0x45
        buffer[Field.dscpAndECN] = dscp << 2 | ecn
        buffer.writeUInt16(UInt16(bufferLength), at: Field.totalLength)
        buffer.writeUInt16(identification, at: Field.identification)
        var flags = UInt16(fragmentOffset / 8)
        if dontFragment { flags |= 0x4000 }
        if moreFragments { flags |= 0x2000 }
        buffer.writeUInt16(flags, at: Field.flagsAndFragmentOffset)
        buffer[Field.timeToLive] = timeToLive
        buffer[Field.proto] = proto.rawValue
        buffer.writeUInt16(0, at: Field.checksum)
        source.write(to: buffer, at: Field.source)
        destination.write(to: buffer, at: Field.destination)
        let header = UnsafeRawBufferPointer(buffer.slice(0..<IPv4Repr.headerLength))
        buffer.writeUInt16(InternetChecksum.of(header), at: Field.checksum)
    }
}
