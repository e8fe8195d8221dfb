// Randomized tests draw from the guest library's SplitMix64 (seeded: failures reproduce),
// re-exported here for the suites that do not import the library.
@_exported import struct Swiftlet.SplitMix64

extension SplitMix64 {
    public mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
