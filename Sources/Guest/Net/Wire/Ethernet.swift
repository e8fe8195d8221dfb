// Ethernet II frames: a checked zero-copy view (`EthernetFrame`) and its representation
// (`EthernetRepr`). No VLAN support: 802.1Q/802.1ad tagged frames are refused as
// `unsupported` by the view, so their tag is never mistaken for an EtherType and payload.

/// The EtherType field. IPv6 is recognised by name only; the stack ignores it.
public enum EtherType: Equatable, Sendable {
    case ipv4
    case arp
    case ipv6
    case other(UInt16)

    public init(rawValue: UInt16) {
        switch rawValue {
        case 0x0800: self = .ipv4
        case 0x0806: self = .arp
        case 0x86DD: self = .ipv6
        default: self = .other(rawValue)
        }
    }

    public var rawValue: UInt16 {
        switch self {
        case .ipv4: 0x0800
        case .arp: 0x0806
        case .ipv6: 0x86DD
        case .other(let value): value
        }
    }
}

/// A view over untrusted bytes holding one Ethernet II frame (without the FCS).
///
/// `init(checking:)` validates once; afterwards no accessor can trap.
public struct EthernetFrame {
    public static let headerLength = 14

    /// The whole frame, header included.
    public let bytes: UnsafeRawBufferPointer

    /// Field offsets.
    enum Field {
        static let destination = 0
        static let source = 6
        static let etherType = 12
    }

    /// Accepts `bytes` if they hold a whole header and no VLAN tag.
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= EthernetFrame.headerLength else { throw .truncated }
        switch bytes.readUInt16(at: Field.etherType) {
        case 0x8100, 0x88A8, 0x9100: throw .unsupported("VLAN-tagged Ethernet frame")
        default: break
        }
        self.bytes = bytes
    }

    public var destination: MACAddress { MACAddress(reading: bytes, at: Field.destination) }
    public var source: MACAddress { MACAddress(reading: bytes, at: Field.source) }
    public var etherTypeValue: UInt16 { bytes.readUInt16(at: Field.etherType) }
    public var etherType: EtherType { EtherType(rawValue: etherTypeValue) }
    /// Everything after the header (any padding included: the upper layer bounds itself).
    public var payload: UnsafeRawBufferPointer {
        bytes.slice(EthernetFrame.headerLength..<bytes.count)
    }
}

/// An Ethernet II header as validated values.
public struct EthernetRepr: Equatable, Sendable {
    public var destination: MACAddress
    public var source: MACAddress
    public var etherType: EtherType

    public init(destination: MACAddress, source: MACAddress, etherType: EtherType) {
        self.destination = destination
        self.source = source
        self.etherType = etherType
    }

    /// Refuses IEEE 802.3 frames (a length, below 0x0600, where the EtherType belongs).
    public static func parse(_ frame: EthernetFrame) throws(WireError) -> EthernetRepr {
        guard frame.etherTypeValue >= 0x0600 else { throw .unsupported("IEEE 802.3 length field") }
        return EthernetRepr(destination: frame.destination, source: frame.source, etherType: frame.etherType)
    }

    /// Checks and parses in one step.
    public static func parse(bytes: UnsafeRawBufferPointer) throws(WireError) -> EthernetRepr {
        try parse(EthernetFrame(checking: bytes))
    }

    public static var headerLength: Int { EthernetFrame.headerLength }
    /// Bytes `emit` writes.
    public var bufferLength: Int { EthernetFrame.headerLength }

    /// Writes the 14-byte header at the start of `buffer`; the payload goes after it.
    /// A buffer shorter than `bufferLength` is a programming error (traps).
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= bufferLength, "Ethernet emit: buffer too small")
        destination.write(to: buffer, at: EthernetFrame.Field.destination)
        source.write(to: buffer, at: EthernetFrame.Field.source)
        buffer.writeUInt16(etherType.rawValue, at: EthernetFrame.Field.etherType)
    }
}
