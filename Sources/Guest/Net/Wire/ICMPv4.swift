// ICMP for IPv4 (RFC 792): a checked zero-copy view (`ICMPv4Packet`) and its representation
// (`ICMPv4Repr`): echo request/reply, destination unreachable and time exceeded; any other
// type parses as `.other(type:code:)`. The checksum covers the whole message.

/// A view over untrusted bytes holding one ICMPv4 message (the IPv4 payload, exactly).
///
/// `init(checking:)` requires the 8-byte header every ICMPv4 message has; afterwards no
/// accessor can trap. It does not verify the checksum (see `isChecksumValid`).
public struct ICMPv4Packet {
    public static let headerLength = 8

    public let bytes: UnsafeRawBufferPointer

    enum Field {
        static let type = 0
        static let code = 1
        static let checksum = 2
        static let identifier = 4
        static let sequence = 6
    }

    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= ICMPv4Packet.headerLength else { throw .truncated }
        self.bytes = bytes
    }

    public var type: UInt8 { bytes[Field.type] }
    public var code: UInt8 { bytes[Field.code] }
    public var checksum: UInt16 { bytes.readUInt16(at: Field.checksum) }
    /// Bytes 4...7 as one word ("rest of header"; unused in unreachable/time exceeded).
    public var restOfHeader: UInt32 { bytes.readUInt32(at: Field.identifier) }
    /// Echo identifier (bytes 4...5).
    public var identifier: UInt16 { bytes.readUInt16(at: Field.identifier) }
    /// Echo sequence number (bytes 6...7).
    public var sequence: UInt16 { bytes.readUInt16(at: Field.sequence) }
    /// Everything after the 8-byte header.
    public var data: UnsafeRawBufferPointer { bytes.slice(ICMPv4Packet.headerLength..<bytes.count) }

    public var isChecksumValid: Bool { InternetChecksum.of(bytes) == 0 }
}

/// An ICMPv4 message as validated values. Data payloads are borrowed from the buffer the
/// message was parsed from (or will be emitted from): valid only while that buffer is.
public enum ICMPv4Repr {
    case echoRequest(identifier: UInt16, sequence: UInt16, data: UnsafeRawBufferPointer)
    case echoReply(identifier: UInt16, sequence: UInt16, data: UnsafeRawBufferPointer)
    /// `original`: the offending datagram's IPv4 header and first bytes of its payload.
    case destinationUnreachable(code: UInt8, original: UnsafeRawBufferPointer)
    /// `original`: as for `destinationUnreachable`.
    case timeExceeded(code: UInt8, original: UnsafeRawBufferPointer)
    /// A type this stack does not handle; its body is not kept.
    case other(type: UInt8, code: UInt8)

    public enum MessageType {
        public static let echoReply: UInt8 = 0
        public static let destinationUnreachable: UInt8 = 3
        public static let echoRequest: UInt8 = 8
        public static let timeExceeded: UInt8 = 11
    }

    /// Destination unreachable codes used by this stack.
    public enum UnreachableCode {
        public static let network: UInt8 = 0
        public static let host: UInt8 = 1
        public static let proto: UInt8 = 2
        public static let port: UInt8 = 3
    }

    /// Verifies the checksum over the whole message unless `verifyChecksum` is false.
    /// Echo messages must have code 0.
    public static func parse(_ packet: ICMPv4Packet, verifyChecksum: Bool = true) throws(WireError) -> ICMPv4Repr {
        if verifyChecksum {
            guard packet.isChecksumValid else { throw .badChecksum }
        }
        switch packet.type {
        case MessageType.echoRequest:
            guard packet.code == 0 else { throw .malformed("ICMP echo code") }
            return .echoRequest(identifier: packet.identifier, sequence: packet.sequence, data: packet.data)
        case MessageType.echoReply:
            guard packet.code == 0 else { throw .malformed("ICMP echo code") }
            return .echoReply(identifier: packet.identifier, sequence: packet.sequence, data: packet.data)
        case MessageType.destinationUnreachable:
            return .destinationUnreachable(code: packet.code, original: packet.data)
        case MessageType.timeExceeded:
            return .timeExceeded(code: packet.code, original: packet.data)
        default:
            return .other(type: packet.type, code: packet.code)
        }
    }

    public static func parse(bytes: UnsafeRawBufferPointer, verifyChecksum: Bool = true) throws(WireError) -> ICMPv4Repr {
        try parse(ICMPv4Packet(checking: bytes), verifyChecksum: verifyChecksum)
    }

    /// What to quote from `packet` in an error message about it (RFC 792): its header,
    /// options included, and the first 8 bytes of its payload (fewer if it has fewer).
    public static func quotedPrefix(of packet: IPv4Packet) -> UnsafeRawBufferPointer {
        let end = min(packet.headerLength + 8, packet.totalLength)
        return packet.bytes.slice(0..<end)
    }

    public var type: UInt8 {
        switch self {
        case .echoRequest: MessageType.echoRequest
        case .echoReply: MessageType.echoReply
        case .destinationUnreachable: MessageType.destinationUnreachable
        case .timeExceeded: MessageType.timeExceeded
        case .other(let type, _): type
        }
    }

    public var code: UInt8 {
        switch self {
        case .echoRequest, .echoReply: 0
        case .destinationUnreachable(let code, _), .timeExceeded(let code, _): code
        case .other(_, let code): code
        }
    }

    /// The bytes after the 8-byte header.
    public var data: UnsafeRawBufferPointer {
        switch self {
        case .echoRequest(_, _, let data), .echoReply(_, _, let data): data
        case .destinationUnreachable(_, let data), .timeExceeded(_, let data): data
        case .other: UnsafeRawBufferPointer(start: nil, count: 0)
        }
    }

    public static var headerLength: Int { ICMPv4Packet.headerLength }
    /// The whole message: header and data.
    public var bufferLength: Int { ICMPv4Packet.headerLength + data.count }

    /// Writes the whole message (header, data copied in unless already in place, checksum)
    /// at the start of `buffer`. A buffer shorter than `bufferLength` traps. `.other` is
    /// written as a bare 8-byte header with a zero rest-of-header.
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= bufferLength, "ICMPv4 emit: buffer too small")
        typealias Field = ICMPv4Packet.Field
        buffer[Field.type] = type
        buffer[Field.code] = code
        buffer.writeUInt16(0, at: Field.checksum)
        switch self {
        case .echoRequest(let identifier, let sequence, _), .echoReply(let identifier, let sequence, _):
            buffer.writeUInt16(identifier, at: Field.identifier)
            buffer.writeUInt16(sequence, at: Field.sequence)
        default:
            buffer.writeUInt32(0, at: Field.identifier)
        }
        let data = self.data
        let body = buffer.slice(ICMPv4Packet.headerLength..<bufferLength)
        if data.count > 0, UnsafeRawPointer(body.baseAddress) != data.baseAddress {
            body.copyMemory(from: data)
        }
        let message = UnsafeRawBufferPointer(buffer.slice(0..<bufferLength))
        buffer.writeUInt16(InternetChecksum.of(message), at: Field.checksum)
    }
}
