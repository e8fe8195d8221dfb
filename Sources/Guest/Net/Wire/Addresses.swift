// Link- and network-layer addresses, as plain values (no allocation, no trapping parses).

public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public var bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)

    public init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, _ b4: UInt8, _ b5: UInt8) {
        bytes = (b0, b1, b2, b3, b4, b5)
    }

    /// Reads six bytes at `offset`; the caller has checked the bounds.
    public init(reading buffer: UnsafeRawBufferPointer, at offset: Int) {
        self.init(buffer[offset], buffer[offset + 1], buffer[offset + 2],
                  buffer[offset + 3], buffer[offset + 4], buffer[offset + 5])
    }

    public func write(to buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        buffer[offset] = bytes.0; buffer[offset + 1] = bytes.1; buffer[offset + 2] = bytes.2
        buffer[offset + 3] = bytes.3; buffer[offset + 4] = bytes.4; buffer[offset + 5] = bytes.5
    }

    public static let broadcast = MACAddress(0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
    public static let zero = MACAddress(0, 0, 0, 0, 0, 0)

    public var isBroadcast: Bool { self == .broadcast }
    public var isMulticast: Bool { bytes.0 & 1 == 1 }

    public static func == (lhs: MACAddress, rhs: MACAddress) -> Bool {
        lhs.bytes.0 == rhs.bytes.0 && lhs.bytes.1 == rhs.bytes.1 && lhs.bytes.2 == rhs.bytes.2
            && lhs.bytes.3 == rhs.bytes.3 && lhs.bytes.4 == rhs.bytes.4 && lhs.bytes.5 == rhs.bytes.5
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(bytes.0); hasher.combine(bytes.1); hasher.combine(bytes.2)
        hasher.combine(bytes.3); hasher.combine(bytes.4); hasher.combine(bytes.5)
    }

    public var description: String {
        let digits: StaticString = "0123456789abcdef"
        var text: [UInt8] = []
        for (index, byte) in [bytes.0, bytes.1, bytes.2, bytes.3, bytes.4, bytes.5].enumerated() {
            if index > 0 { text.append(0x3A) }
            text += [digits.utf8Start[Int(byte >> 4)], digits.utf8Start[Int(byte & 15)]]
        }
        return String(decoding: text, as: UTF8.self)
    }
}

public struct IPv4Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Host byte order: 10.0.2.15 is 0x0A00_020F.
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses dotted-quad text ("10.0.2.15"); nil for anything else.
    public init?(_ text: String) {
        guard let address = text.withByteText({ IPv4Address($0) }) else { return nil }
        self = address
    }

    /// Parses dotted-quad text given as its bytes.
    init?(_ text: ByteText) {
        var address: UInt32 = 0
        var dots = 0
        var current: UInt32 = 0
        var digits = 0
        for byte in text.bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                address = address << 8 | current
                dots += 1
                current = 0
                digits = 0
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                current = current * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                guard digits <= 3, current <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, dots == 3 else { return nil }
        value = address << 8 | current
    }

    public init(reading buffer: UnsafeRawBufferPointer, at offset: Int) {
        value = UInt32(buffer[offset]) << 24 | UInt32(buffer[offset + 1]) << 16
            | UInt32(buffer[offset + 2]) << 8 | UInt32(buffer[offset + 3])
    }

    public func write(to buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        buffer[offset] = UInt8(value >> 24); buffer[offset + 1] = UInt8(truncatingIfNeeded: value >> 16)
        buffer[offset + 2] = UInt8(truncatingIfNeeded: value >> 8); buffer[offset + 3] = UInt8(truncatingIfNeeded: value)
    }

    public static let any = IPv4Address(0)
    public static let broadcast = IPv4Address(0xFFFF_FFFF)

    public var isBroadcast: Bool { value == 0xFFFF_FFFF }
    public var isMulticast: Bool { value >> 28 == 0xE }
    public var isUnspecified: Bool { value == 0 }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.value < rhs.value }

    /// Built as bytes: interpolation of the four numbers cost 1.6 KB of code.
    public var description: String {
        var text: [UInt8] = []
        for shift in [24, 16, 8, 0] {
            if shift < 24 { text.append(0x2E) }
            appendDecimal(Int((value >> UInt32(shift)) & 255), to: &text)
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// An IPv4 network: address and prefix length ("10.0.2.15/24").
public struct IPv4Subnet: Hashable, Sendable {
    public var address: IPv4Address
    public var prefixLength: Int

    public init(address: IPv4Address, prefixLength: Int) {
        self.address = address
        self.prefixLength = min(max(prefixLength, 0), 32)
    }

    public var mask: UInt32 { prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength) }
    public func contains(_ other: IPv4Address) -> Bool { other.value & mask == address.value & mask }
    public var broadcast: IPv4Address { IPv4Address(address.value | ~mask) }
}

/// The Internet checksum (RFC 1071): ones'-complement sum of 16-bit big-endian words.
public struct InternetChecksum: Sendable {
    private var sum: UInt64 = 0

    public init() {}

    /// Adds `bytes` as big-endian 16-bit words (a trailing odd byte padded with zero).
    /// Eight bytes at a time in machine order: one's-complement sums do not care about byte
    /// order up to a final swap (RFC 1071 §2(B)), and checksums run over every frame.
    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let count = bytes.count
        var native: UInt64 = 0
        var index = 0
        while index + 8 <= count {
            let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            native &+= (word & 0xFFFF_FFFF) &+ (word >> 32)
            index += 8
        }
        while index + 2 <= count {
            native &+= UInt64(base.loadUnaligned(fromByteOffset: index, as: UInt16.self))
            index += 2
        }
        while native >> 16 != 0 { native = (native & 0xFFFF) &+ (native >> 16) }
        let folded = UInt16(truncatingIfNeeded: native)
        sum &+= UInt64(UInt16(bigEndian: folded))
        if index < count { sum &+= UInt64(bytes[index]) << 8 }
    }

    public mutating func add(_ word: UInt16) { sum &+= UInt64(word) }
    public mutating func add(_ address: IPv4Address) {
        sum &+= UInt64(address.value >> 16) &+ UInt64(address.value & 0xFFFF)
    }

    /// The value to store in a checksum field (0 when the data, including a correct
    /// checksum, verifies).
    public var value: UInt16 {
        var folded = sum
        while folded >> 16 != 0 { folded = (folded & 0xFFFF) &+ (folded >> 16) }
        return ~UInt16(folded)
    }

    public static func of(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var checksum = InternetChecksum()
        checksum.add(bytes)
        return checksum.value
    }
}
