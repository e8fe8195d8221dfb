// SipHash-1-3 (Aumasson and Bernstein, 2012) of one 64-bit word: the keyed hash the standard
// library's Dictionary uses, here for `KeyedTable`, whose keys come off the wire. Without the
// secret key a peer cannot tell which keys share a slot, so it cannot pile its keys into one
// run of slots and make every lookup slow.

struct SipHash13: Sendable {
    private let k0: UInt64
    private let k1: UInt64

    init(k0: UInt64, k1: UInt64) {
        self.k0 = k0
        self.k1 = k1
    }

    /// A key drawn from `random` (the network stack's generator: the platform's CSPRNG, or a
    /// test's seed).
    init(using random: inout some RandomNumberGenerator) {
        self.init(k0: random.next(), k1: random.next())
    }

    /// The hash of `word`'s eight bytes, little-endian, as the reference implementation
    /// hashes an 8-byte message.
    func hash(_ word: UInt64) -> UInt64 {
        var state = (k0 ^ 0x736F_6D65_7073_6575, k1 ^ 0x646F_7261_6E64_6F6D,
                     k0 ^ 0x6C79_6765_6E65_7261, k1 ^ 0x7465_6462_7974_6573)
        // One compression round per block: the word, then the length block (8 << 56).
        Self.compress(word, into: &state)
        Self.compress(8 << 56, into: &state)
        state.2 ^= 0xFF
        Self.round(&state)
        Self.round(&state)
        Self.round(&state)
        return state.0 ^ state.1 ^ state.2 ^ state.3
    }

    private static func compress(_ block: UInt64, into state: inout (UInt64, UInt64, UInt64, UInt64)) {
        state.3 ^= block
        round(&state)
        state.0 ^= block
    }

    private static func round(_ v: inout (UInt64, UInt64, UInt64, UInt64)) {
        v.0 &+= v.1; v.1 = v.1.rotatedLeft(13); v.1 ^= v.0; v.0 = v.0.rotatedLeft(32)
        v.2 &+= v.3; v.3 = v.3.rotatedLeft(16); v.3 ^= v.2
        v.0 &+= v.3; v.3 = v.3.rotatedLeft(21); v.3 ^= v.0
        v.2 &+= v.1; v.1 = v.1.rotatedLeft(17); v.1 ^= v.2; v.2 = v.2.rotatedLeft(32)
    }
}

extension UInt64 {
    fileprivate func rotatedLeft(_ count: UInt64) -> UInt64 { self << count | self >> (64 - count) }
}
