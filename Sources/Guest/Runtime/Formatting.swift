// Allocation-free text formatting for the crash path: when the heap is exhausted or broken,
// a message must still be built, so it goes into fixed storage inside the value itself.

/// Up to 256 bytes of UTF-8 text stored inline (on the stack when a local), built by appending
/// static strings and numbers. Never allocates.
///
/// When text does not fit, the buffer keeps what does and sets `isTruncated`: static strings
/// are cut at a UTF-8 scalar boundary, numbers are appended whole or not at all (a partial
/// number would be misleading in a crash report).
public struct FixedTextBuffer: Sendable {
    /// Bytes the buffer can hold.
    public static let capacity = 256

    // 32 × 8 = 256 bytes. (A tuple rather than InlineArray: same layout, and no availability
    // floor on hosted platforms.)
    private var storage: (
        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64
    ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
         0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    /// Bytes of text held.
    public private(set) var count = 0
    /// Whether some appended text was dropped for lack of room.
    public private(set) var isTruncated = false

    public init() {}

    public var isEmpty: Bool { count == 0 }
    public var remainingCapacity: Int { Self.capacity - count }

    /// The byte at `index` (0..<count).
    public subscript(index: Int) -> UInt8 {
        precondition(index >= 0 && index < count, "FixedTextBuffer index out of range")
        return withUnsafeBytes(of: storage) { $0[index] }
    }

    /// Calls `body` with the text's bytes; they are valid only during the call.
    public func withBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        let count = self.count
        return withUnsafeBytes(of: storage) { raw in
            body(UnsafeRawBufferPointer(rebasing: raw[0..<count]))
        }
    }

    /// The text as a String (allocates: for hosted use and tests, not the crash path).
    public var string: String {
        withBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Forgets the text (and the truncation flag).
    public mutating func removeAll() {
        count = 0
        isTruncated = false
    }

    /// Appends `text`, cut at a UTF-8 scalar boundary if it does not fit.
    public mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { append(utf8: UnsafeRawBufferPointer($0)) }
    }

    /// Appends the UTF-8 bytes `bytes`, cut at a scalar boundary if they do not fit.
    public mutating func append(utf8 bytes: UnsafeRawBufferPointer) {
        var length = bytes.count
        if length > remainingCapacity {
            isTruncated = true
            length = remainingCapacity
            // Back off so the kept bytes do not end inside a multi-byte scalar: the first byte
            // dropped must not be a continuation byte (0b10xx_xxxx).
            while length > 0 && bytes[length] & 0xC0 == 0x80 { length -= 1 }
        }
        guard length > 0 else { return }
        let start = count
        withUnsafeMutableBytes(of: &storage) { raw in
            (raw.baseAddress! + start).copyMemory(from: bytes.baseAddress!, byteCount: length)
        }
        count += length
    }

    /// Appends one byte (e.g. an ASCII character); dropped if the buffer is full.
    public mutating func append(byte: UInt8) {
        guard count < Self.capacity else { isTruncated = true; return }
        let index = count
        withUnsafeMutableBytes(of: &storage) { $0[index] = byte }
        count += 1
    }

    /// Appends `value` in decimal, with a leading "-" when negative and its digits
    /// zero-padded to at least `minimumDigits` (at most 20 honored).
    public mutating func append(decimal value: Int64, minimumDigits: Int = 1) {
        appendNumber(value.magnitude, negative: value < 0, radix: 10, prefix: false, minimumDigits: minimumDigits)
    }

    /// Appends `value` in decimal, zero-padded to at least `minimumDigits` (at most 20 honored).
    public mutating func append(unsignedDecimal value: UInt64, minimumDigits: Int = 1) {
        appendNumber(value, negative: false, radix: 10, prefix: false, minimumDigits: minimumDigits)
    }

    /// Appends `value` as "0x" and lowercase hexadecimal digits, zero-padded to at least
    /// `minimumDigits` (at most 16 honored), e.g. `0x1f` or, with 16 digits, `0x000000010012ab40`.
    public mutating func append(hex value: UInt64, minimumDigits: Int = 1) {
        appendNumber(value, negative: false, radix: 16, prefix: true, minimumDigits: minimumDigits)
    }

    private mutating func appendNumber(_ value: UInt64, negative: Bool, radix: UInt64, prefix: Bool, minimumDigits: Int) {
        var digits = 1
        var rest = value / radix
        while rest != 0 { digits += 1; rest /= radix }
        digits = max(digits, min(minimumDigits, radix == 16 ? 16 : 20))
        let length = digits + (negative ? 1 : 0) + (prefix ? 2 : 0)
        guard length <= remainingCapacity else { isTruncated = true; return }

        let start = count
        withUnsafeMutableBytes(of: &storage) { raw in
            var index = start
            if negative { raw[index] = UInt8(ascii: "-"); index += 1 }
            if prefix { raw[index] = UInt8(ascii: "0"); raw[index + 1] = UInt8(ascii: "x"); index += 2 }
            // Digits, least significant last.
            var remaining = value
            var position = index + digits - 1
            while position >= index {
                let digit = UInt8(truncatingIfNeeded: remaining % radix)
                raw[position] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                remaining /= radix
                position -= 1
            }
        }
        count += length
    }
}

/// Exact ASCII comparison of bytes with a literal, without String machinery (which would pull
/// Unicode tables into an Embedded image).
func asciiEquals(_ bytes: some Collection<UInt8>, _ literal: StaticString) -> Bool {
    guard bytes.count == literal.utf8CodeUnitCount else { return false }
    var pointer = literal.utf8Start
    for byte in bytes {
        if byte != pointer.pointee { return false }
        pointer += 1
    }
    return true
}
