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
        let days = floorDivide(seconds, 86_400)
        var text: [UInt8] = []
        text.reserveCapacity(29)
        appendName(weekdays, index: Int(((days % 7) + 7) % 7), to: &text)
        text += [0x2C, 0x20]
        appendTimestamp(seconds, dateSeparator: 0x20, beforeClock: 0x20, to: &text)
        text += Array(" GMT".utf8)
        return text
    }

    /// "27/Nov/2026:13:14:21 +0000", the Common Log Format timestamp.
    public static func commonLogFormat(secondsSinceEpoch seconds: Int64) -> [UInt8] {
        var text: [UInt8] = []
        text.reserveCapacity(26)
        appendTimestamp(seconds, dateSeparator: 0x2F, beforeClock: 0x3A, to: &text)
        text += Array(" +0000".utf8)
        return text
    }

    /// DAY·MON·YEAR·HH:MM:SS, with the separators the two formats differ in.
    private static func appendTimestamp(_ seconds: Int64, dateSeparator: UInt8, beforeClock: UInt8,
                                        to text: inout [UInt8]) {
        let time = UTCDateTime(nanosecondsSinceEpoch: seconds * 1_000_000_000)
        appendDecimal(time.day, minimumDigits: 2, to: &text)
        text.append(dateSeparator)
        appendName(months, index: time.month - 1, to: &text)
        text.append(dateSeparator)
        appendDecimal(time.year, minimumDigits: 4, to: &text)
        text.append(beforeClock)
        appendClock(time, to: &text)
    }

    private static func appendClock(_ time: UTCDateTime, to text: inout [UInt8]) {
        appendDecimal(time.hour, minimumDigits: 2, to: &text)
        text.append(0x3A)
        appendDecimal(time.minute, minimumDigits: 2, to: &text)
        text.append(0x3A)
        appendDecimal(time.second, minimumDigits: 2, to: &text)
    }

    private static func appendName(_ names: StaticString, index: Int, to text: inout [UInt8]) {
        let start = names.utf8Start + index * 3
        text += [start[0], start[1], start[2]]
    }
}

private func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
    value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
}
