// ARP for IPv4 over Ethernet (RFC 826): a checked zero-copy view (`ARPPacket`) and its
// representation (`ARPRepr`). Other hardware or protocol types are refused by `ARPRepr.parse`.

/// A view over untrusted bytes holding one ARP packet of any hardware/protocol type.
///
/// `init(checking:)` validates the fixed part and the address lengths it announces;
/// afterwards no accessor can trap. Bytes after the packet (Ethernet padding) are ignored.
public struct ARPPacket {
    public static let fixedLength = 8

    public let bytes: UnsafeRawBufferPointer

    enum Field {
        static let hardwareType = 0
        static let protocolType = 2
        static let hardwareLength = 4
        static let protocolLength = 5
        static let operation = 6
        static let addresses = 8
    }

    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= ARPPacket.fixedLength else { throw .truncated }
        let hardware = Int(bytes[Field.hardwareLength])
        let proto = Int(bytes[Field.protocolLength])
        guard bytes.count >= ARPPacket.fixedLength + 2 * (hardware + proto) else { throw .truncated }
        self.bytes = bytes
    }

    public var hardwareType: UInt16 { bytes.readUInt16(at: Field.hardwareType) }
    public var protocolType: UInt16 { bytes.readUInt16(at: Field.protocolType) }
    public var hardwareLength: Int { Int(bytes[Field.hardwareLength]) }
    public var protocolLength: Int { Int(bytes[Field.protocolLength]) }
    public var operationValue: UInt16 { bytes.readUInt16(at: Field.operation) }
    /// The packet's own length: fixed part and four addresses.
    public var packetLength: Int { ARPPacket.fixedLength + 2 * (hardwareLength + protocolLength) }

    public var senderHardwareBytes: UnsafeRawBufferPointer {
        let start = Field.addresses
        return bytes.slice(start..<(start + hardwareLength))
    }
    public var senderProtocolBytes: UnsafeRawBufferPointer {
        let start = Field.addresses + hardwareLength
        return bytes.slice(start..<(start + protocolLength))
    }
    public var targetHardwareBytes: UnsafeRawBufferPointer {
        let start = Field.addresses + hardwareLength + protocolLength
        return bytes.slice(start..<(start + hardwareLength))
    }
    public var targetProtocolBytes: UnsafeRawBufferPointer {
        let start = Field.addresses + 2 * hardwareLength + protocolLength
        return bytes.slice(start..<(start + protocolLength))
    }
}

public enum ARPOperation: UInt16, Equatable, Sendable {
    case request = 1
    case reply = 2
}

/// An Ethernet/IPv4 ARP packet as validated values.
public struct ARPRepr: Equatable, Sendable {
    public var operation: ARPOperation
    public var senderHardwareAddress: MACAddress
    public var senderProtocolAddress: IPv4Address
    public var targetHardwareAddress: MACAddress
    public var targetProtocolAddress: IPv4Address

    public init(operation: ARPOperation,
                senderHardwareAddress: MACAddress, senderProtocolAddress: IPv4Address,
                targetHardwareAddress: MACAddress, targetProtocolAddress: IPv4Address) {
        self.operation = operation
        self.senderHardwareAddress = senderHardwareAddress
        self.senderProtocolAddress = senderProtocolAddress
        self.targetHardwareAddress = targetHardwareAddress
        self.targetProtocolAddress = targetProtocolAddress
    }

    /// Ethernet (1) / IPv4 (0x0800) with lengths 6 and 4, request or reply; anything else
    /// is `unsupported` (other types, operations) or `malformed` (wrong lengths for the types).
    public static func parse(_ packet: ARPPacket) throws(WireError) -> ARPRepr {
        guard packet.hardwareType == 1 else { throw .unsupported("ARP hardware type") }
        guard packet.protocolType == 0x0800 else { throw .unsupported("ARP protocol type") }
        guard packet.hardwareLength == 6 else { throw .malformed("ARP hardware length") }
        guard packet.protocolLength == 4 else { throw .malformed("ARP protocol length") }
        guard let operation = ARPOperation(rawValue: packet.operationValue) else {
            throw .unsupported("ARP operation")
        }
        // Lengths are now known to be 6 and 4, and the view checked 8 + 2 × 10 bytes.
        let bytes = packet.bytes
        return ARPRepr(operation: operation,
                       senderHardwareAddress: MACAddress(reading: bytes, at: 8),
                       senderProtocolAddress: IPv4Address(reading: bytes, at: 14),
                       targetHardwareAddress: MACAddress(reading: bytes, at: 18),
                       targetProtocolAddress: IPv4Address(reading: bytes, at: 24))
    }

    public static func parse(bytes: UnsafeRawBufferPointer) throws(WireError) -> ARPRepr {
        try parse(ARPPacket(checking: bytes))
    }

    /// Length of an Ethernet/IPv4 ARP packet.
    public static let packetLength = 28
    public var bufferLength: Int { ARPRepr.packetLength }

    /// Writes the 28-byte packet. A buffer shorter than `bufferLength` traps.
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= bufferLength, "ARP emit: buffer too small")
        buffer.writeUInt16(1, at: ARPPacket.Field.hardwareType)
        buffer.writeUInt16(0x0800, at: ARPPacket.Field.protocolType)
        buffer[ARPPacket.Field.hardwareLength] = 6
        buffer[ARPPacket.Field.protocolLength] = 4
        buffer.writeUInt16(operation.rawValue, at: ARPPacket.Field.operation)
        senderHardwareAddress.write(to: buffer, at: 8)
        senderProtocolAddress.write(to: buffer, at: 14)
        targetHardwareAddress.write(to: buffer, at: 18)
        targetProtocolAddress.write(to: buffer, at: 24)
    }
}
