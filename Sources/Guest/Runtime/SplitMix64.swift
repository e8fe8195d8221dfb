// SplitMix64 (Steele, Lea and Flood, 2014): a small, fast, seedable generator. Protocol state
// that needs unpredictable values (DHCP transaction ids, DNS query ids) seeds one from the
// stack's generator, so it stays a plain value; tests seed one so failures reproduce.

public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// Not inlined: no caller draws often, and DHCP alone had five copies.
    @inline(never)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
