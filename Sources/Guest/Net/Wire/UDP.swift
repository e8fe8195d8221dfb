// UDP (RFC 768) over IPv4: a checked zero-copy view (`UDPDatagram`) and its representation
// (`UDPRepr`). The checksum covers the IPv4 pseudo-header; a zero checksum means "none"
// (allowed for IPv4) and is accepted; emitted checksums are never zero (0 is sent as 0xFFFF).

/// A view over untrusted bytes holding one UDP datagram (the IPv4 payload).
///
/// `init(checking:)` validates the length field (8 ≤ length ≤ buffer) once; afterwards no
/// accessor can trap. Bytes after `length` are ignored.
public struct UDPDatagram {
    public static let headerLength = 8

    public let bytes: UnsafeRawBufferPointer

    enum Field {
        static let sourcePort = 0
        static let destinationPort = 2
        static let length = 4
        static let checksum = 6
    }

    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= UDPDatagram.headerLength else { throw .truncated }
        let length = Int(bytes.readUInt16(at: Field.length))
        guard length >= UDPDatagram.headerLength else { throw .malformed("UDP length") }
        guard length <= bytes.count else { throw .truncated }
        self.bytes = bytes
    }

    public var sourcePort: UInt16 { bytes.readUInt16(at: Field.sourcePort) }
    public var destinationPort: UInt16 { bytes.readUInt16(at: Field.destinationPort) }
    /// Header and payload, in bytes: 8...bytes.count.
    public var length: Int { Int(bytes.readUInt16(at: Field.length)) }
    public var checksum: UInt16 { bytes.readUInt16(at: Field.checksum) }
    /// The payload, bounded by `length`.
    public var payload: UnsafeRawBufferPointer { bytes.slice(UDPDatagram.headerLength..<length) }

    /// Whether the checksum verifies with this pseudo-header (true when it is 0: none sent).
    public func isChecksumValid(source: IPv4Address, destination: IPv4Address) -> Bool {
        if checksum == 0 { return true }
        return UDPDatagram.checksum(bytes.slice(0..<length), source: source, destination: destination) == 0
    }

    /// The Internet checksum of `datagram` (all of it) with the IPv4 pseudo-header.
    static func checksum(_ datagram: UnsafeRawBufferPointer, source: IPv4Address, destination: IPv4Address) -> UInt16 {
        var sum = InternetChecksum()
        sum.add(source)
        sum.add(destination)
        sum.add(UInt16(IPProtocol.udp.rawValue))
        sum.add(UInt16(truncatingIfNeeded: datagram.count))
        sum.add(datagram)
        return sum.value
    }
}

/// A UDP header as validated values.
public struct UDPRepr: Equatable, Sendable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    /// Bytes after the header.
    public var payloadLength: Int

    public init(sourcePort: UInt16, destinationPort: UInt16, payloadLength: Int) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.payloadLength = payloadLength
    }

    /// Verifies the checksum (unless 0, or `verifyChecksum` is false) with the pseudo-header
    /// of the IPv4 packet that carried the datagram. Destination port 0 is malformed.
    public static func parse(_ datagram: UDPDatagram, source: IPv4Address, destination: IPv4Address,
                             verifyChecksum: Bool = true) throws(WireError) -> UDPRepr {
        guard datagram.destinationPort != 0 else { throw .malformed("UDP destination port 0") }
        if verifyChecksum {
            guard datagram.isChecksumValid(source: source, destination: destination) else { throw .badChecksum }
        }
        return UDPRepr(sourcePort: datagram.sourcePort, destinationPort: datagram.destinationPort,
                       payloadLength: datagram.length - UDPDatagram.headerLength)
    }

    public static func parse(bytes: UnsafeRawBufferPointer, source: IPv4Address, destination: IPv4Address,
                             verifyChecksum: Bool = true) throws(WireError) -> UDPRepr {
        try parse(UDPDatagram(checking: bytes), source: source, destination: destination,
                  verifyChecksum: verifyChecksum)
    }

    public static let headerLength = 8
    public var headerLength: Int { UDPRepr.headerLength }
    /// Header and payload.
    public var bufferLength: Int { UDPRepr.headerLength + payloadLength }

    /// Writes the 8-byte header and the checksum over header and the `payloadLength` bytes
    /// that must already be in place after it (zero-copy: build the payload first).
    /// A buffer shorter than `bufferLength`, or a length over 65535, traps.
    public func emit(into buffer: UnsafeMutableRawBufferPointer, source: IPv4Address, destination: IPv4Address) {
        precondition(buffer.count >= bufferLength, "UDP emit: buffer too small")
        precondition(payloadLength >= 0 && bufferLength <= 0xFFFF, "UDP emit: bad payload length")
        typealias Field = UDPDatagram.Field
        buffer.writeUInt16(sourcePort, at: Field.sourcePort)
        buffer.writeUInt16(destinationPort, at: Field.destinationPort)
        buffer.writeUInt16(UInt16(bufferLength), at: Field.length)
        buffer.writeUInt16(0, at: Field.checksum)
        let datagram = UnsafeRawBufferPointer(buffer.slice(0..<bufferLength))
        let sum = UDPDatagram.checksum(datagram, source: source, destination: destination)
        buffer.writeUInt16(sum == 0 ? 0xFFFF : sum, at: Field.checksum)
    }

    /// Copies `payload` after the header, then emits as above (`payloadLength` must match).
    public func emit(into buffer: UnsafeMutableRawBufferPointer, payload: UnsafeRawBufferPointer,
                     source: IPv4Address, destination: IPv4Address) {
        precondition(payload.count == payloadLength, "UDP emit: payload length mismatch")
        precondition(buffer.count >= bufferLength, "UDP emit: buffer too small")
        if payload.count > 0 {
            buffer.slice(UDPRepr.headerLength..<bufferLength).copyMemory(from: payload)
        }
        emit(into: buffer, source: source, destination: destination)
    }
}
