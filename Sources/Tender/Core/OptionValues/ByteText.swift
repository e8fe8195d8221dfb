// Comparing and cutting the tenders' ASCII text (options, keywords, register names) by its
// UTF-8 bytes. String's own `==`, `hasPrefix`, `split`, `count` and hashing work by canonical
// equivalence and grapheme clusters, and any one use links the standard library's Unicode
// normalization and grapheme tables (~35 KB, with ~40 KB of code) into a tender. For ASCII,
// bytes give the same answers. ReleaseTenderTests checks that no tender links the tables.

extension String {
    /// The same bytes as `other` (no Unicode normalization).
    public func bytesEqual(_ other: String) -> Bool { utf8.elementsEqual(other.utf8) }

    /// The same bytes as `literal`.
    public func bytesEqual(_ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { utf8.elementsEqual($0) }
    }

    /// Starts with the bytes of `prefix`.
    public func bytesStart(with prefix: StaticString) -> Bool { bytes(after: prefix) != nil }

    /// What follows `prefix`, if the text starts with its bytes.
    public func bytes(after prefix: StaticString) -> Substring? {
        prefix.withUTF8Buffer { prefix -> Substring? in
            utf8.starts(with: prefix) ? Substring(utf8.dropFirst(prefix.count)) : nil
        }
    }

    /// What comes before `suffix`, if the text ends with its bytes.
    public func bytes(before suffix: StaticString) -> Substring? {
        suffix.withUTF8Buffer { suffix -> Substring? in
            utf8.count >= suffix.count && utf8.suffix(suffix.count).elementsEqual(suffix)
                ? Substring(utf8.dropLast(suffix.count)) : nil
        }
    }

    /// The pieces between `separator` bytes, as `split(separator:maxSplits:omittingEmptySubsequences:)`.
    public func bytesSplit(_ separator: UInt8, maxSplits: Int = .max, omittingEmpty: Bool = true) -> [Substring] {
        utf8.split(separator: separator, maxSplits: maxSplits, omittingEmptySubsequences: omittingEmpty).map { Substring($0) }
    }
}

extension Substring {
    /// The same bytes as `literal`.
    public func bytesEqual(_ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { utf8.elementsEqual($0) }
    }

    /// The number these ASCII digits spell in `radix` (10 or 16), or nil: empty, a sign or any
    /// other character, or more than UInt64 holds. The tenders' one number parser: every
    /// `UInt32(text)` or `UInt8(text, radix:)` linked its own specialization (11, 4.5 KB).
    public func bytesNumber(radix: UInt64 = 10) -> UInt64? {
        guard !isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in utf8 {
            let digit: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt64(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt64(byte - UInt8(ascii: "A")) + 10
            default: return nil
            }
            guard digit < radix else { return nil }
            let (shifted, overflowed) = value.multipliedReportingOverflow(by: radix)
            let (sum, carried) = shifted.addingReportingOverflow(digit)
            guard !overflowed, !carried else { return nil }
            value = sum
        }
        return value
    }
}

/// A string to `switch` on by bytes: `switch ByteText(argument) { case "--mem", "-m": ... }`.
public struct ByteText {
    public let text: String
    public init(_ text: String) { self.text = text }

    public static func ~= (pattern: StaticString, value: ByteText) -> Bool { value.text.bytesEqual(pattern) }
}
