// A JSON number as its exact text. Why text and not Int64 or Double: JSON numbers have no
// range or precision (RFC 8259 §6), so converting while parsing would silently round
// 12345678901234567890 or 0.1000000000000000055511; keeping the text loses nothing, lets a
// value round-trip byte for byte, and the reader picks the conversion it needs: `int64`
// (exact or nil), `double` (nearest, or nil beyond Double's range). Short numbers (up to 15
// bytes) fit in the String itself, so this costs no allocation.

public struct JSONNumber: Equatable, Sendable, CustomStringConvertible {
    /// The number as written, already checked against the RFC 8259 grammar.
    public let text: String

    /// Wraps text the parser has validated.
    init(validatedText text: String) { self.text = text }

    public init(_ value: Int) { text = String(value) }
    public init(_ value: Int64) { text = String(value) }
    public init(_ value: UInt64) { text = String(value) }

    /// Nil for infinities and NaN, which JSON cannot express.
    public init?(_ value: Double) {
        guard value.isFinite else { return nil }
        // Swift's shortest round-trip form ("0.1", "1e+20", "-0.0") is valid JSON as is.
        text = "\(value)"
    }

    public var description: String { text }

    /// Whether the text has no fraction and no exponent.
    public var isInteger: Bool {
        !text.utf8.contains { $0 == 0x2E || $0 == 0x65 || $0 == 0x45 }
    }

    /// The value when it is written as an integer (`42`, `-7`; not `4.0` or `1e3`) and fits in
    /// an Int64; nil otherwise.
    public var int64: Int64? {
        guard isInteger else { return nil }
        var negative = false
        var magnitude: UInt64 = 0
        for byte in text.utf8 {
            if byte == 0x2D { negative = true; continue }
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte &- 0x30))
            if overflow1 || overflow2 { return nil }
            magnitude = sum
        }
        if negative {
            if magnitude == UInt64(Int64.max) + 1 { return Int64.min }
            return magnitude <= UInt64(Int64.max) ? -Int64(magnitude) : nil
        }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }

    /// The nearest Double; nil when the magnitude is beyond Double's range (`1e400`). Exact
    /// (correctly rounded) when the significand has at most 15 digits and the decimal exponent
    /// is within ±22, which covers almost every number APIs exchange; otherwise within a few
    /// units in the last place. (Embedded Swift has no `strtod`: this is the whole conversion.)
    public var double: Double? {
        var significand: UInt64 = 0
        var digits = 0
        var exponent = 0
        var negative = false
        var inFraction = false
        var bytes = text.utf8.makeIterator()
        while let byte = bytes.next() {
            switch byte {
            case 0x2D: negative = true
            case 0x2E: inFraction = true
            case 0x30...0x39:
                if digits < 19 {
                    significand = significand * 10 + UInt64(byte - 0x30)
                    if significand != 0 { digits += 1 }
                    if inFraction { exponent -= 1 }
                } else if !inFraction {
                    exponent += 1  // a dropped integer digit still scales the value
                }
            default:  // e or E: the exponent, saturated far beyond any Double
                var exponentNegative = false
                var written = 0
                while let byte = bytes.next() {
                    if byte == 0x2D { exponentNegative = true } else if byte != 0x2B {
                        written = min(written * 10 + Int(byte - 0x30), 100_000)
                    }
                }
                exponent += exponentNegative ? -written : written
            }
        }
        var value = Double(significand)
        if significand != 0 {
            let exactPowers: Double = 1e22
            if significand < 1 << 53 && exponent >= -22 && exponent <= 22 {
                value = exponent < 0 ? value / Self.powerOf10(-exponent) : value * Self.powerOf10(exponent)
            } else {
                var remaining = exponent
                while remaining > 22 && value.isFinite { value *= exactPowers; remaining -= 22 }
                while remaining < -22 && value != 0 { value /= exactPowers; remaining += 22 }
                if value.isFinite && value != 0 { value = remaining < 0 ? value / Self.powerOf10(-remaining) : value * Self.powerOf10(remaining) }
            }
        }
        guard value.isFinite else { return nil }
        return negative ? -value : value
    }

    /// 10^n for 0 ≤ n ≤ 22, all exactly representable as Doubles.
    private static func powerOf10(_ n: Int) -> Double {
        var result: Double = 1
        for _ in 0..<n { result *= 10 }
        return result
    }
}
