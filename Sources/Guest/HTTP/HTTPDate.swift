// IMF-fixdate (RFC 9110 §5.6.7) for `Date` headers, e.g. "Sun, 06 Nov 1994 08:49:37 GMT",
// and the Common Log Format timestamp. Servers stamp every response, so the text is cached
// per second.

public struct HTTPDate {
    private static let weekdays: StaticString = "ThuFriSatSunMonTueWed"  // 1970-01-01 was a Thursday
    private static let months: StaticString = "JanFebMarAprMayJunJulAugSepOctNovDec"

    private var cachedSecond: Int64 = .min
    private var cached: [UInt8] = []

    public init() {}

    /// The IMF-fixdate for a wall-clock time in nanoseconds since 1970, cached per second.
    public mutating func text(nanosecondsSinceEpoch nanoseconds: Int64) -> [UInt8] {
        let second = floorDivide(nanoseconds, 1_000_000_000)
        if second != cachedSecond {
            cachedSecond = second
            cached = Self.imfFixdate(secondsSinceEpoch: second)
        }
        return cached
    }

    public static func imfFixdate(secondsSinceEpoch seconds: Int64) -> [UInt8] {
        let time = UTCDateTime(nanosecondsSinceEpoch: seconds * 1_000_000_000)
        let days = floorDivide(seconds, 86_400)
        var text: [UInt8] = []
        text.reserveCapacity(29)
        appendName(weekdays, index: Int(((days % 7) + 7) % 7), to: &text)
        text += [0x2C, 0x20]
        appendDigits(time.day, 2, to: &text)
        text.append(0x20)
        appendName(months, index: time.month - 1, to: &text)
        text.append(0x20)
        appendDigits(time.year, 4, to: &text)
        text.append(0x20)
        appendClock(time, to: &text)
        text += [0x20, 0x47, 0x4D, 0x54]  // " GMT"
        return text
    }

    /// "27/Nov/2026:13:14:21 +0000", the Common Log Format timestamp.
    public static func commonLogFormat(secondsSinceEpoch seconds: Int64) -> [UInt8] {
        let time = UTCDateTime(nanosecondsSinceEpoch: seconds * 1_000_000_000)
        var text: [UInt8] = []
        text.reserveCapacity(26)
        appendDigits(time.day, 2, to: &text)
        text.append(0x2F)
        appendName(months, index: time.month - 1, to: &text)
        text.append(0x2F)
        appendDigits(time.year, 4, to: &text)
        text.append(0x3A)
        appendClock(time, to: &text)
        text += Array(" +0000".utf8)
        return text
    }

    private static func appendClock(_ time: UTCDateTime, to text: inout [UInt8]) {
        appendDigits(time.hour, 2, to: &text)
        text.append(0x3A)
        appendDigits(time.minute, 2, to: &text)
        text.append(0x3A)
        appendDigits(time.second, 2, to: &text)
    }

    private static func appendName(_ names: StaticString, index: Int, to text: inout [UInt8]) {
        let start = names.utf8Start + index * 3
        text += [start[0], start[1], start[2]]
    }

    private static func appendDigits(_ value: Int, _ digits: Int, to text: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<digits { divisor *= 10 }
        var remaining = max(value, 0)
        while divisor > 0 {
            text.append(UInt8(truncatingIfNeeded: 0x30 + (remaining / divisor) % 10))
            remaining %= divisor
            divisor /= 10
        }
    }
}

private func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
    value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
}
