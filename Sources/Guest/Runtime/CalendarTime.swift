// Wall-clock time as a proleptic Gregorian UTC date, from the tender's nanoseconds since
// the Unix epoch (SWIFTLET_HC_WALLTIME). Leap seconds do not exist here, as in POSIX time.
//
// The day arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days`
// (http://howardhinnant.github.io/date_algorithms.html): exact for every day, negative
// (pre-1970) ones included, with no tables and no loops.

/// A point in time broken down into UTC calendar fields.
public struct UTCDateTime: Equatable, Sendable {
    /// Proleptic Gregorian year (1970, 2024, ...; 0 is 1 BC).
    public var year: Int
    /// 1...12
    public var month: Int
    /// 1...31
    public var day: Int
    /// 0...23
    public var hour: Int
    /// 0...59
    public var minute: Int
    /// 0...59
    public var second: Int
    /// 0...999_999_999
    public var nanosecond: Int

    static let nanosecondsPerSecond: Int64 = 1_000_000_000
    static let nanosecondsPerDay: Int64 = 86_400 * nanosecondsPerSecond

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, nanosecond: Int = 0) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.nanosecond = nanosecond
    }

    /// The UTC date and time `nanoseconds` after (before, if negative) 1970-01-01T00:00:00Z.
    /// Every Int64 is valid: years 1677 to 2262.
    public init(nanosecondsSinceEpoch nanoseconds: Int64) {
        // Floor division, so times before the epoch land in the previous day.
        var days = nanoseconds / Self.nanosecondsPerDay
        var nanosecondOfDay = nanoseconds % Self.nanosecondsPerDay
        if nanosecondOfDay < 0 {
            days -= 1
            nanosecondOfDay += Self.nanosecondsPerDay
        }
        let date = Self.civil(fromDaysSinceEpoch: Int(days))
        let secondOfDay = Int(nanosecondOfDay / Self.nanosecondsPerSecond)
        self.init(year: date.year, month: date.month, day: date.day,
                  hour: secondOfDay / 3600, minute: secondOfDay / 60 % 60, second: secondOfDay % 60,
                  nanosecond: Int(nanosecondOfDay % Self.nanosecondsPerSecond))
    }

    /// Nanoseconds since the Unix epoch: the inverse of `init(nanosecondsSinceEpoch:)` for
    /// in-range fields. Traps if the result does not fit in Int64.
    public var nanosecondsSinceEpoch: Int64 {
        let days = Int64(Self.daysSinceEpoch(year: year, month: month, day: day))
        let seconds = Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)
        let nanosecondOfDay = seconds * Self.nanosecondsPerSecond + Int64(nanosecond)
        // Before the epoch, go through the next midnight so the intermediate product stays
        // in range down to Int64.min (whose day start is not representable).
        if days < 0 {
            return (days + 1) * Self.nanosecondsPerDay + (nanosecondOfDay - Self.nanosecondsPerDay)
        }
        return days * Self.nanosecondsPerDay + nanosecondOfDay
    }

    /// Days from 1970-01-01 to the given proleptic Gregorian date (Hinnant's days_from_civil).
    public static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400                                           // [0, 399]
        let monthFromMarch = month > 2 ? month - 3 : month + 9                  // [0, 11]
        let dayOfYear = (153 * monthFromMarch + 2) / 5 + day - 1                // [0, 365]
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear // [0, 146096]
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date `days` after 1970-01-01 (Hinnant's civil_from_days).
    public static func civil(fromDaysSinceEpoch days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468                                   // days since 0000-03-01
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097                         // [0, 146096]
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365 // [0, 399]
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)          // [0, 365]
        let monthFromMarch = (5 * dayOfYear + 2) / 153                                          // [0, 11]
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1                                // [1, 31]
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9               // [1, 12]
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    /// ISO 8601 / RFC 3339 with milliseconds (truncated), e.g. `2026-11-27T10:35:54.123Z`.
    public var iso8601: String {
        var text = FixedTextBuffer()
        writeISO8601(to: &text)
        return text.string
    }

    /// Appends `iso8601` to `text` without allocating.
    public func writeISO8601(to text: inout FixedTextBuffer) {
        text.append(decimal: Int64(year), minimumDigits: 4)
        text.append(byte: UInt8(ascii: "-"))
        text.append(decimal: Int64(month), minimumDigits: 2)
        text.append(byte: UInt8(ascii: "-"))
        text.append(decimal: Int64(day), minimumDigits: 2)
        text.append(byte: UInt8(ascii: "T"))
        text.append(decimal: Int64(hour), minimumDigits: 2)
        text.append(byte: UInt8(ascii: ":"))
        text.append(decimal: Int64(minute), minimumDigits: 2)
        text.append(byte: UInt8(ascii: ":"))
        text.append(decimal: Int64(second), minimumDigits: 2)
        text.append(byte: UInt8(ascii: "."))
        text.append(decimal: Int64(nanosecond / 1_000_000), minimumDigits: 3)
        text.append(byte: UInt8(ascii: "Z"))
    }
}
