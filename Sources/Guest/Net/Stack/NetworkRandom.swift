// Randomness is an input to the stack, like time: every unpredictable value it uses (initial
// sequence numbers, ephemeral ports, DHCP transaction ids, DNS query ids) comes from the one
// generator it was given, so a test that seeds it can assert the exact bytes on the wire.

/// The stack's source of unpredictable values.
///
/// `.platform` draws from the platform's CSPRNG (in a guest, the ChaCha20 stream the tender
/// seeds): what a running stack needs, since initial sequence numbers must not be guessable
/// (RFC 6528). `.seeded` draws from SplitMix64, whose outputs reveal its state: for tests only.
public struct NetworkRandom: RandomNumberGenerator, Sendable {
    private enum Source: Sendable {
        case platform
        case seeded(SplitMix64)
    }

    private var source: Source

    public static var platform: NetworkRandom { NetworkRandom(source: .platform) }

    public static func seeded(_ seed: UInt64) -> NetworkRandom {
        NetworkRandom(source: .seeded(SplitMix64(seed: seed)))
    }

    public mutating func next() -> UInt64 {
        switch source {
        case .platform:
            var value: UInt64 = 0
            withUnsafeMutableBytes(of: &value) { randomBytes($0) }
            return value
        case .seeded(var generator):
            let value = generator.next()
            source = .seeded(generator)
            return value
        }
    }

    /// The secret key of the stack's hash tables. It never shows on the wire, so it takes no
    /// draw from the values that do (a seeded stack's sequence numbers and ids stay its first
    /// draws): the platform's CSPRNG gives a fresh one, a seeded generator one derived from
    /// its state.
    mutating func tableHasher() -> SipHash13 {
        switch source {
        case .platform:
            return SipHash13(using: &self)
        case .seeded(let generator):
            var derived = SplitMix64(seed: ~generator.state)
            return SipHash13(using: &derived)
        }
    }

    /// A port from the dynamic range, 49152...65535 (RFC 6335 §6).
    mutating func ephemeralPort() -> UInt16 {
        UInt16(49152 + next() % 16384)
    }

    /// An initial sequence number (RFC 9293 §3.4.1).
    mutating func initialSequenceNumber() -> TCPSequenceNumber {
        TCPSequenceNumber(UInt32(truncatingIfNeeded: next()))
    }
}
