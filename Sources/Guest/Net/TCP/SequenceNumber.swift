// TCP sequence numbers: 32-bit values that wrap, compared by signed distance (RFC 9293 §3.4).

/// A TCP sequence (or acknowledgment) number. Arithmetic wraps modulo 2^32; `a < b` means
/// `b` is "after" `a`, i.e. the signed 32-bit difference `a - b` is negative. The order is
/// only meaningful for values less than 2^31 apart, which TCP windows guarantee.
public struct TCPSequenceNumber: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32

    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// Advances by `offset` octets (negative moves back), wrapping.
    public static func + (lhs: TCPSequenceNumber, rhs: Int) -> TCPSequenceNumber {
        TCPSequenceNumber(lhs.rawValue &+ UInt32(truncatingIfNeeded: rhs))
    }

    public static func - (lhs: TCPSequenceNumber, rhs: Int) -> TCPSequenceNumber {
        TCPSequenceNumber(lhs.rawValue &- UInt32(truncatingIfNeeded: rhs))
    }

    public static func += (lhs: inout TCPSequenceNumber, rhs: Int) { lhs = lhs + rhs }
    public static func -= (lhs: inout TCPSequenceNumber, rhs: Int) { lhs = lhs - rhs }

    /// The signed distance `lhs - rhs` in octets, in -2^31 ..< 2^31.
    public static func - (lhs: TCPSequenceNumber, rhs: TCPSequenceNumber) -> Int {
        Int(Int32(bitPattern: lhs.rawValue &- rhs.rawValue))
    }

    public static func < (lhs: TCPSequenceNumber, rhs: TCPSequenceNumber) -> Bool {
        Int32(bitPattern: lhs.rawValue &- rhs.rawValue) < 0
    }

    /// The later of two sequence numbers (by wrapping order).
    public static func later(_ a: TCPSequenceNumber, _ b: TCPSequenceNumber) -> TCPSequenceNumber { a < b ? b : a }

    /// True when `low <= self < high` in wrapping order.
    public func isIn(_ low: TCPSequenceNumber, _ high: TCPSequenceNumber) -> Bool { low <= self && self < high }

    public var description: String { "\(rawValue)" }
}
