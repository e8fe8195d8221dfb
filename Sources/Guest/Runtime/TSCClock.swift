// Monotonic time from the CPU's time-stamp counter, without a hypercall per reading.
//
// nanoseconds = floor((tsc - origin) * 10^9 / hz), computed with a precomputed fixed-point
// scale instead of a division per reading:
//
//   scale = 10^9 / hz = wholeNanoseconds + fraction / 2^128
//
// where the 128-bit fraction is rounded UP. For a tick delta d < 2^64 the product
// d * scale exceeds the exact d * 10^9 / hz by less than d / 2^128 < 2^-64, while the exact
// value's fractional part is a multiple of 1/hz and so at most 1 - 1/hz < 1 - 2^-64.
// The excess therefore never reaches the next integer: the floor is exact for every hz
// and every delta (only the final result can overflow, after ~584 years; it saturates).

/// Converts time-stamp counter readings to nanoseconds since a chosen origin reading.
public struct TSCClock: Sendable {
    /// Counter ticks per second.
    public let hz: UInt64
    /// The counter reading that is nanosecond 0.
    public let origin: UInt64

    /// floor(10^9 / hz): nonzero only for counters of 1 GHz or slower.
    private let wholeNanosecondsPerTick: UInt64
    /// (10^9 mod hz) / hz as a 128-bit binary fraction, rounded up.
    private let fractionHigh: UInt64
    private let fractionLow: UInt64

    /// A clock for a counter running at `hz` ticks per second (must be nonzero) that reads
    /// zero at counter value `origin`.
    public init(hz: UInt64, origin: UInt64) {
        precondition(hz != 0, "TSCClock needs a nonzero frequency")
        self.hz = hz
        self.origin = origin
        let nanosecondsPerSecond: UInt64 = 1_000_000_000
        wholeNanosecondsPerTick = nanosecondsPerSecond / hz
        // Binary long division of (remainder / hz) into 128 fraction bits. Done bit by bit
        // rather than with dividingFullWidth, which lowers to a call to compiler-rt's
        // __udivti3 that a freestanding guest need not link; it runs once, at boot.
        var partial = nanosecondsPerSecond % hz      // always < hz
        var fractionHigh: UInt64 = 0
        var fractionLow: UInt64 = 0
        for _ in 0..<128 {
            // partial = 2 * partial, reduced mod hz; the bit is whether it reached hz.
            let doubled = partial.addingReportingOverflow(partial)
            let bit: UInt64
            if doubled.overflow || doubled.partialValue >= hz {
                partial = doubled.partialValue &- hz
                bit = 1
            } else {
                partial = doubled.partialValue
                bit = 0
            }
            fractionHigh = fractionHigh << 1 | fractionLow >> 63
            fractionLow = fractionLow << 1 | bit
        }
        if partial != 0 {                           // round up
            let (sum, carry) = fractionLow.addingReportingOverflow(1)
            fractionLow = sum
            if carry { fractionHigh &+= 1 }         // cannot wrap: the fraction is < 1 - 1/hz
        }
        self.fractionHigh = fractionHigh
        self.fractionLow = fractionLow
    }

    /// Nanoseconds from `origin` to the counter reading `tsc`: 0 for readings before the
    /// origin, `UInt64.max` if beyond ~584 years. Never decreases as `tsc` grows.
    public func nanoseconds(at tsc: UInt64) -> UInt64 {
        guard tsc > origin else { return 0 }
        let ticks = tsc - origin

        // floor(ticks * fraction / 2^128), fraction = fractionHigh * 2^64 + fractionLow:
        // ticks * fraction = h1 * 2^128 + (l1 + h2) * 2^64 + l2, so the floor is h1 plus the
        // carry out of l1 + h2 (l2 < 2^64 cannot carry past that digit).
        let (h1, l1) = ticks.multipliedFullWidth(by: fractionHigh)
        let h2 = ticks.multipliedFullWidth(by: fractionLow).high
        let fractional = h1 + (l1.addingReportingOverflow(h2).overflow ? 1 : 0)

        let (whole, overflow) = ticks.multipliedReportingOverflow(by: wholeNanosecondsPerTick)
        if overflow { return .max }
        let (total, carry) = whole.addingReportingOverflow(fractional)
        return carry ? .max : total
    }
}
