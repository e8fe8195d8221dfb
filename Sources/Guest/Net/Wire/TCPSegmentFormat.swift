// The TCP header on the wire (RFC 9293 §3.1): a checked view, options, and a validated Repr.
//
// Rule (after smoltcp): once `TCPSegmentView(checking:)` or `TCPSegmentRepr.parse` accepts
// untrusted bytes, no accessor can trap. Every length is checked before it is used.

/// The control bits (RFC 9293 §3.1, RFC 3168 for ECE/CWR).
public struct TCPFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let psh = TCPFlags(rawValue: 0x08)
    public static let ack = TCPFlags(rawValue: 0x10)
    public static let urg = TCPFlags(rawValue: 0x20)
    public static let ece = TCPFlags(rawValue: 0x40)
    public static let cwr = TCPFlags(rawValue: 0x80)
    /// The end of the data: a constant, where the literal `[.fin, .psh]` built an array at run time
    /// (each segment the send loop emits).
    static let finPush = TCPFlags(rawValue: 0x09)
}

/// Field offsets of the fixed header.
enum TCPField {
    static let sourcePort = 0
    static let destinationPort = 2
    static let sequenceNumber = 4
    static let acknowledgmentNumber = 8
    static let dataOffset = 12
    static let flags = 13
    static let window = 14
    static let checksum = 16
    static let urgentPointer = 18
    static let minimumHeaderLength = 20
    static let maximumHeaderLength = 60
}

// MARK: - View

/// A checked, zero-copy view of a TCP segment. After `init(checking:)` succeeds the buffer
/// holds at least the full header the data offset announces, so no accessor can trap.
public struct TCPSegmentView {
    public let buffer: UnsafeRawBufferPointer

    public init(checking buffer: UnsafeRawBufferPointer) throws(WireError) {
        guard buffer.count >= TCPField.minimumHeaderLength else { throw .truncated }
        let words = Int(buffer[TCPField.dataOffset] >> 4)
        guard words >= 5 else { throw .malformed("TCP data offset") }
        guard words * 4 <= buffer.count else { throw .truncated }
        self.buffer = buffer
    }

    public var sourcePort: UInt16 { buffer.readUInt16(at: TCPField.sourcePort) }
    public var destinationPort: UInt16 { buffer.readUInt16(at: TCPField.destinationPort) }
    public var sequenceNumber: TCPSequenceNumber { TCPSequenceNumber(buffer.readUInt32(at: TCPField.sequenceNumber)) }
    public var acknowledgmentNumber: TCPSequenceNumber {
        TCPSequenceNumber(buffer.readUInt32(at: TCPField.acknowledgmentNumber))
    }
    /// Header length in octets (data offset × 4), 20...60.
    public var headerLength: Int { Int(buffer[TCPField.dataOffset] >> 4) * 4 }
    public var flags: TCPFlags { TCPFlags(rawValue: buffer[TCPField.flags]) }
    public var window: UInt16 { buffer.readUInt16(at: TCPField.window) }
    public var checksum: UInt16 { buffer.readUInt16(at: TCPField.checksum) }
    public var urgentPointer: UInt16 { buffer.readUInt16(at: TCPField.urgentPointer) }

    /// The option octets between the fixed header and the payload.
    public var optionBytes: UnsafeRawBufferPointer {
        buffer.slice(TCPField.minimumHeaderLength..<headerLength)
    }

    public var payload: UnsafeRawBufferPointer {
        buffer.slice(headerLength..<buffer.count)
    }

    /// True when the checksum over the IPv4 pseudo-header and the whole segment verifies.
    public func verifyChecksum(source: IPv4Address, destination: IPv4Address) -> Bool {
        TCPSegmentRepr.checksum(source: source, destination: destination, segment: buffer) == 0
    }
}

// MARK: - Options

/// The RFC 7323 timestamps option.
public struct TCPTimestamps: Hashable, Sendable {
    public var value: UInt32
    public var echoReply: UInt32
    public init(value: UInt32, echoReply: UInt32) { self.value = value; self.echoReply = echoReply }
}

/// One block of the RFC 2018 SACK option: octets `start..<end` the receiver holds beyond a hole.
public struct TCPSACKBlock: Hashable, Sendable {
    public var start: TCPSequenceNumber
    public var end: TCPSequenceNumber
    public init(start: TCPSequenceNumber, end: TCPSequenceNumber) { self.start = start; self.end = end }
}

/// The blocks of a SACK option, stored inline (no allocation per segment): at most four, all
/// that fit in the 40 option octets (2 + 4 × 8) when no other option rides along.
public struct TCPSACKBlocks: Hashable, Sendable {
    public static let capacity = 4
    public private(set) var count = 0
    private var slots = (TCPSACKBlock.unused, TCPSACKBlock.unused, TCPSACKBlock.unused, TCPSACKBlock.unused)

    public init() {}

    public var isEmpty: Bool { count == 0 }

    public subscript(index: Int) -> TCPSACKBlock {
        precondition(index >= 0 && index < count, "SACK block index out of range")
        switch index {
        case 0: return slots.0
        case 1: return slots.1
        case 2: return slots.2
        default: return slots.3
        }
    }

    /// Adds `block` after the others; false (and nothing added) when all four are taken.
    @discardableResult
    public mutating func append(_ block: TCPSACKBlock) -> Bool {
        switch count {
        case 0: slots.0 = block
        case 1: slots.1 = block
        case 2: slots.2 = block
        case 3: slots.3 = block
        default: return false
        }
        count += 1
        return true
    }

    public static func == (a: TCPSACKBlocks, b: TCPSACKBlocks) -> Bool {
        a.count == b.count && (0..<a.count).allSatisfy { a[$0] == b[$0] }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for index in 0..<count { hasher.combine(self[index]) }
    }
}

extension TCPSACKBlock {
    static let unused = TCPSACKBlock(start: TCPSequenceNumber(0), end: TCPSequenceNumber(0))
}

/// The options this stack understands. Unknown options are skipped on parse; a SACK option
/// with more blocks than `TCPSACKBlocks.capacity` (impossible within 40 octets) keeps the first.
public struct TCPOptions: Hashable, Sendable {
    public var maximumSegmentSize: UInt16?
    /// The shift count as sent; receivers clamp it to 14 (RFC 7323 §2.3).
    public var windowScale: UInt8?
    public var sackPermitted: Bool
    public var timestamps: TCPTimestamps?
    /// RFC 2018 selective acknowledgments (kind 5).
    public var sackBlocks: TCPSACKBlocks

    public init(maximumSegmentSize: UInt16? = nil, windowScale: UInt8? = nil,
                sackPermitted: Bool = false, timestamps: TCPTimestamps? = nil,
                sackBlocks: TCPSACKBlocks = TCPSACKBlocks()) {
        self.maximumSegmentSize = maximumSegmentSize
        self.windowScale = windowScale
        self.sackPermitted = sackPermitted
        self.timestamps = timestamps
        self.sackBlocks = sackBlocks
    }

    public static let none = TCPOptions()

    enum Kind {
        static let endOfList: UInt8 = 0
        static let noOperation: UInt8 = 1
        static let maximumSegmentSize: UInt8 = 2
        static let windowScale: UInt8 = 3
        static let sackPermitted: UInt8 = 4
        static let sack: UInt8 = 5
        static let timestamps: UInt8 = 8
    }

    /// Parses the option octets of a header. Never traps: every length is checked.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> TCPOptions {
        var options = TCPOptions()
        var index = 0
        let count = bytes.count
        while index < count {
            let kind = bytes[index]
            if kind == Kind.endOfList { break }
            if kind == Kind.noOperation { index += 1; continue }
            guard index + 1 < count else { throw .malformed("TCP option length") }
            let length = Int(bytes[index + 1])
            guard length >= 2, length <= count - index else { throw .malformed("TCP option length") }
            switch kind {
            case Kind.maximumSegmentSize:
                guard length == 4 else { throw .malformed("TCP option length") }
                options.maximumSegmentSize = bytes.readUInt16(at: index + 2)
            case Kind.windowScale:
                guard length == 3 else { throw .malformed("TCP option length") }
                options.windowScale = bytes[index + 2]
            case Kind.sackPermitted:
                guard length == 2 else { throw .malformed("TCP option length") }
                options.sackPermitted = true
            case Kind.sack:
                guard (length - 2) % 8 == 0, length >= 10 else { throw .malformed("TCP option length") }
                for block in stride(from: index + 2, to: index + length, by: 8) {
                    options.sackBlocks.append(TCPSACKBlock(start: TCPSequenceNumber(bytes.readUInt32(at: block)),
                                                           end: TCPSequenceNumber(bytes.readUInt32(at: block + 4))))
                }
            case Kind.timestamps:
                guard length == 10 else { throw .malformed("TCP option length") }
                options.timestamps = TCPTimestamps(value: bytes.readUInt32(at: index + 2),
                                                   echoReply: bytes.readUInt32(at: index + 6))
            default:
                break  // unknown, length already checked: skip
            }
            index += length
        }
        return options
    }

    /// Octets `write` produces: each option NOP-padded to a 4-octet boundary.
    public var encodedLength: Int {
        (maximumSegmentSize != nil ? 4 : 0) + (windowScale != nil ? 4 : 0)
            + (sackPermitted ? 4 : 0) + (timestamps != nil ? 12 : 0)
            + (sackBlocks.isEmpty ? 0 : 4 + 8 * sackBlocks.count)
    }

    /// Writes `encodedLength` octets at `offset`; the caller has checked the bounds.
    func write(to buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        var index = offset
        if let mss = maximumSegmentSize {
            buffer[index] = Kind.maximumSegmentSize; buffer[index + 1] = 4
            buffer.writeUInt16(mss, at: index + 2)
            index += 4
        }
        if let shift = windowScale {
            buffer[index] = Kind.noOperation; buffer[index + 1] = Kind.windowScale
            buffer[index + 2] = 3; buffer[index + 3] = shift
            index += 4
        }
        if sackPermitted {
            buffer[index] = Kind.noOperation; buffer[index + 1] = Kind.noOperation
            buffer[index + 2] = Kind.sackPermitted; buffer[index + 3] = 2
            index += 4
        }
        if let stamps = timestamps {
            buffer[index] = Kind.noOperation; buffer[index + 1] = Kind.noOperation
            buffer[index + 2] = Kind.timestamps; buffer[index + 3] = 10
            buffer.writeUInt32(stamps.value, at: index + 4)
            buffer.writeUInt32(stamps.echoReply, at: index + 8)
            index += 12
        }
        if !sackBlocks.isEmpty {
            buffer[index] = Kind.noOperation; buffer[index + 1] = Kind.noOperation
            buffer[index + 2] = Kind.sack; buffer[index + 3] = UInt8(2 + 8 * sackBlocks.count)
            index += 4
            for block in 0..<sackBlocks.count {
                buffer.writeUInt32(sackBlocks[block].start.rawValue, at: index)
                buffer.writeUInt32(sackBlocks[block].end.rawValue, at: index + 4)
                index += 8
            }
        }
    }
}

// MARK: - Repr

/// A validated TCP header. The payload travels beside it (see `parse` and `emit`).
/// `acknowledgmentNumber` is carried as on the wire; it is meaningful only when `flags`
/// contains `.ack` (see `ack`).
public struct TCPSegmentRepr: Hashable, Sendable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequenceNumber: TCPSequenceNumber
    public var acknowledgmentNumber: TCPSequenceNumber
    public var flags: TCPFlags
    /// The raw 16-bit window field (unscaled).
    public var window: UInt16
    public var urgentPointer: UInt16
    public var options: TCPOptions

    public init(sourcePort: UInt16, destinationPort: UInt16, sequenceNumber: TCPSequenceNumber,
                acknowledgmentNumber: TCPSequenceNumber = TCPSequenceNumber(0), flags: TCPFlags,
                window: UInt16, urgentPointer: UInt16 = 0, options: TCPOptions = .none) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.sequenceNumber = sequenceNumber
        self.acknowledgmentNumber = acknowledgmentNumber
        self.flags = flags
        self.window = window
        self.urgentPointer = urgentPointer
        self.options = options
    }

    /// The acknowledgment number when ACK is set.
    public var ack: TCPSequenceNumber? { flags.contains(.ack) ? acknowledgmentNumber : nil }

    /// Header length in octets, options included.
    public var headerLength: Int { TCPField.minimumHeaderLength + options.encodedLength }

    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    public func sequenceLength(payloadCount: Int) -> Int {
        payloadCount + (flags.contains(.syn) ? 1 : 0) + (flags.contains(.fin) ? 1 : 0)
    }

    /// Parses and validates a segment; with `verifyChecksum` the pseudo-header checksum must
    /// verify. Returns the header and the payload slice of `buffer`.
    public static func parse(_ buffer: UnsafeRawBufferPointer, source: IPv4Address, destination: IPv4Address,
                             verifyChecksum: Bool = true)
        throws(WireError) -> (repr: TCPSegmentRepr, payload: UnsafeRawBufferPointer)
    {
        let view = try TCPSegmentView(checking: buffer)
        if verifyChecksum && !view.verifyChecksum(source: source, destination: destination) {
            throw .badChecksum
        }
        let options = try TCPOptions.parse(view.optionBytes)
        let repr = TCPSegmentRepr(
            sourcePort: view.sourcePort, destinationPort: view.destinationPort,
            sequenceNumber: view.sequenceNumber, acknowledgmentNumber: view.acknowledgmentNumber,
            flags: view.flags, window: view.window, urgentPointer: view.urgentPointer, options: options)
        return (repr, view.payload)
    }

    /// Writes header and payload into `buffer` with a correct checksum; returns the octets
    /// written (`headerLength + payload.count`). With `partialChecksum` the checksum field holds
    /// only the pseudo-header's sum, for a device that completes it (checksum offload).
    @discardableResult
    public func emit(into buffer: UnsafeMutableRawBufferPointer, payload: UnsafeRawBufferPointer,
                     source: IPv4Address, destination: IPv4Address, partialChecksum: Bool = false) throws(WireError) -> Int {
        try emit(into: buffer, payload: TCPPayload(payload), source: source, destination: destination,
                 partialChecksum: partialChecksum)
    }

    /// `emit` with the payload in up to two pieces (as the send ring holds it).
    @discardableResult
    public func emit(into buffer: UnsafeMutableRawBufferPointer, payload: TCPPayload,
                     source: IPv4Address, destination: IPv4Address, partialChecksum: Bool = false) throws(WireError) -> Int {
        let header = headerLength
        guard header <= TCPField.maximumHeaderLength else { throw .bufferTooSmall }
        let total = header + payload.count
        guard buffer.count >= total else { throw .bufferTooSmall }
        buffer.writeUInt16(sourcePort, at: TCPField.sourcePort)
        buffer.writeUInt16(destinationPort, at: TCPField.destinationPort)
        buffer.writeUInt32(sequenceNumber.rawValue, at: TCPField.sequenceNumber)
        buffer.writeUInt32(acknowledgmentNumber.rawValue, at: TCPField.acknowledgmentNumber)
        buffer[TCPField.dataOffset] = UInt8(header / 4) << 4
        buffer[TCPField.flags] = flags.rawValue
        buffer.writeUInt16(window, at: TCPField.window)
        buffer.writeUInt16(0, at: TCPField.checksum)
        buffer.writeUInt16(urgentPointer, at: TCPField.urgentPointer)
        options.write(to: buffer, at: TCPField.minimumHeaderLength)
        if payload.count > 0, let target = buffer.baseAddress { payload.copy(to: target + header) }
        if partialChecksum {
            var pseudoHeader = InternetChecksum()
            pseudoHeader.add(source)
            pseudoHeader.add(destination)
            pseudoHeader.add(UInt16(6))
            pseudoHeader.add(UInt16(truncatingIfNeeded: total))
            buffer.writeUInt16(~pseudoHeader.value, at: TCPField.checksum)
            return total
        }
        let segment = UnsafeRawBufferPointer(buffer).slice(0..<total)
        buffer.writeUInt16(TCPSegmentRepr.checksum(source: source, destination: destination, segment: segment),
                           at: TCPField.checksum)
        return total
    }

    /// The RST answering `incoming` when it belongs to no connection (RFC 9293 §3.10.7.1);
    /// nil for an incoming RST, which is never answered.
    public static func reset(answering incoming: TCPSegmentRepr, payloadCount: Int) -> TCPSegmentRepr? {
        guard !incoming.flags.contains(.rst) else { return nil }
        if let ack = incoming.ack {
            return TCPSegmentRepr(sourcePort: incoming.destinationPort, destinationPort: incoming.sourcePort,
                                  sequenceNumber: ack, flags: .rst, window: 0)
        }
        return TCPSegmentRepr(sourcePort: incoming.destinationPort, destinationPort: incoming.sourcePort,
                              sequenceNumber: TCPSequenceNumber(0),
                              acknowledgmentNumber: incoming.sequenceNumber
                                  + incoming.sequenceLength(payloadCount: payloadCount),
                              flags: TCPFlags.rst.union(.ack), window: 0)
    }

    /// The Internet checksum over the IPv4 pseudo-header (RFC 9293 §3.1) and `segment`.
    /// Over a segment whose checksum field is correct, the result is 0.
    public static func checksum(source: IPv4Address, destination: IPv4Address,
                                segment: UnsafeRawBufferPointer) -> UInt16 {
        var sum = InternetChecksum()
        sum.add(source)
        sum.add(destination)
        sum.add(UInt16(6))
        sum.add(UInt16(truncatingIfNeeded: segment.count))
        sum.add(segment)
        return sum.value
    }
}
