// ChaCha20 (RFC 8439 §2.3) and the guest's cryptographically secure random generator.
//
// Everything here is value types over fixed-size tuples: no heap allocation, so the
// generator can be seeded and used before the heap exists.

/// A 256-bit ChaCha20 key: eight 32-bit words, read little-endian from its 32 bytes.
public struct ChaCha20Key: Sendable {
    public var words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)

    public init(words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)) {
        self.words = words
    }

    /// Reads the key from exactly 32 bytes (RFC 8439 byte order).
    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == 32, "ChaCha20 key must be 32 bytes")
        words = (
            littleEndianWord(bytes, 0), littleEndianWord(bytes, 1),
            littleEndianWord(bytes, 2), littleEndianWord(bytes, 3),
            littleEndianWord(bytes, 4), littleEndianWord(bytes, 5),
            littleEndianWord(bytes, 6), littleEndianWord(bytes, 7))
    }
}

/// A 96-bit ChaCha20 nonce: three 32-bit words, read little-endian from its 12 bytes.
public struct ChaCha20Nonce: Sendable {
    public var words: (UInt32, UInt32, UInt32)

    public static var zero: ChaCha20Nonce { ChaCha20Nonce(words: (0, 0, 0)) }

    public init(words: (UInt32, UInt32, UInt32)) {
        self.words = words
    }

    /// Reads the nonce from exactly 12 bytes (RFC 8439 byte order).
    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == 12, "ChaCha20 nonce must be 12 bytes")
        words = (littleEndianWord(bytes, 0), littleEndianWord(bytes, 1), littleEndianWord(bytes, 2))
    }
}

/// One 64-byte ChaCha20 output block as sixteen words; its bytes are the words serialized
/// little-endian, in order (RFC 8439 §2.3).
public struct ChaCha20Block: Sendable {
    public var words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
                       UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)

    /// The serialized byte at `index` (0..<64).
    public subscript(byte index: Int) -> UInt8 {
        precondition(index >= 0 && index < ChaCha20.blockSize, "ChaCha20 block byte index out of range")
        let word = withUnsafeBytes(of: words) { $0.load(fromByteOffset: (index >> 2) << 2, as: UInt32.self) }
        return UInt8(truncatingIfNeeded: word >> UInt32((index & 3) * 8))
    }

    /// Writes the serialized bytes `range` of the block to the start of `destination`,
    /// which must hold at least `range.count` bytes.
    public func copyBytes(_ range: Range<Int> = 0..<ChaCha20.blockSize, to destination: UnsafeMutableRawBufferPointer) {
        precondition(range.lowerBound >= 0 && range.upperBound <= ChaCha20.blockSize, "ChaCha20 block range out of bounds")
        precondition(destination.count >= range.count, "ChaCha20 block destination too small")
        guard !range.isEmpty, let base = destination.baseAddress else { return }
        withUnsafeBytes(of: words) { raw in
            var target = base
            for index in range {
                let word = raw.load(fromByteOffset: (index >> 2) << 2, as: UInt32.self)
                target.storeBytes(of: UInt8(truncatingIfNeeded: word >> UInt32((index & 3) * 8)), as: UInt8.self)
                target += 1
            }
        }
    }
}

/// The ChaCha20 block function and keystream.
public enum ChaCha20 {
    /// Bytes per block.
    public static let blockSize = 64

    /// The ChaCha20 block function (RFC 8439 §2.3): 20 rounds over the constants, `key`,
    /// `counter` and `nonce`, then the input added back in.
    public static func block(key: ChaCha20Key, counter: UInt32, nonce: ChaCha20Nonce) -> ChaCha20Block {
        // "expand 32-byte k"
        let i0: UInt32 = 0x6170_7865, i1: UInt32 = 0x3320_646E, i2: UInt32 = 0x7962_2D32, i3: UInt32 = 0x6B20_6574
        let k = key.words, n = nonce.words
        var x0 = i0, x1 = i1, x2 = i2, x3 = i3
        var x4 = k.0, x5 = k.1, x6 = k.2, x7 = k.3
        var x8 = k.4, x9 = k.5, x10 = k.6, x11 = k.7
        var x12 = counter, x13 = n.0, x14 = n.1, x15 = n.2

        for _ in 0..<10 {
            // Column rounds.
            quarterRound(&x0, &x4, &x8, &x12)
            quarterRound(&x1, &x5, &x9, &x13)
            quarterRound(&x2, &x6, &x10, &x14)
            quarterRound(&x3, &x7, &x11, &x15)
            // Diagonal rounds.
            quarterRound(&x0, &x5, &x10, &x15)
            quarterRound(&x1, &x6, &x11, &x12)
            quarterRound(&x2, &x7, &x8, &x13)
            quarterRound(&x3, &x4, &x9, &x14)
        }

        return ChaCha20Block(words: (
            x0 &+ i0, x1 &+ i1, x2 &+ i2, x3 &+ i3,
            x4 &+ k.0, x5 &+ k.1, x6 &+ k.2, x7 &+ k.3,
            x8 &+ k.4, x9 &+ k.5, x10 &+ k.6, x11 &+ k.7,
            x12 &+ counter, x13 &+ n.0, x14 &+ n.1, x15 &+ n.2))
    }

    /// Fills `output` with the keystream of consecutive blocks starting at block `counter`
    /// (the final block may be used partially). Returns the counter of the next unused block.
    /// The 32-bit block counter wraps, as RFC 8439 leaves >256 GiB per nonce undefined.
    @discardableResult
    public static func keystream(key: ChaCha20Key, nonce: ChaCha20Nonce, counter: UInt32,
                                 into output: UnsafeMutableRawBufferPointer) -> UInt32 {
        var counter = counter
        var offset = 0
        while offset < output.count {
            let length = min(blockSize, output.count - offset)
            block(key: key, counter: counter, nonce: nonce)
                .copyBytes(0..<length, to: UnsafeMutableRawBufferPointer(rebasing: output[offset..<(offset + length)]))
            offset += length
            counter &+= 1
        }
        return counter
    }

    @inline(__always)
    static func quarterRound(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32, _ d: inout UInt32) {
        a &+= b; d ^= a; d = rotateLeft(d, 16)
        c &+= d; b ^= c; b = rotateLeft(b, 12)
        a &+= b; d ^= a; d = rotateLeft(d, 8)
        c &+= d; b ^= c; b = rotateLeft(b, 7)
    }

    @inline(__always)
    static func rotateLeft(_ value: UInt32, _ count: UInt32) -> UInt32 {
        (value &<< count) | (value &>> (32 &- count))
    }
}

/// The guest's cryptographically secure random number generator: ChaCha20 with
/// "fast key erasure" (D. J. Bernstein, 2017).
///
/// Each refill computes one block with the current key (counter 0, zero nonce). Its first
/// 32 bytes immediately replace the key and its last 32 bytes become the output buffer;
/// buffered bytes are zeroed as they are handed out. So the state never holds anything
/// that reveals output already returned (backtracking resistance), and a key is never
/// used for more than one block, which makes the fixed counter and nonce safe.
///
/// Seed it with the 32 fresh bytes the tender puts in `boot_info.random_seed`.
/// Allocation-free. It is a value: a copy repeats the original's future output, so keep one
/// instance per owner and pass it `inout`.
public struct ChaCha20Random: RandomNumberGenerator, Sendable {
    private var key: ChaCha20Key
    /// Output of the latest block not yet handed out: bytes `consumed..<32`.
    private var buffer: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var consumed = ChaCha20Random.bufferSize

    private static let bufferSize = 32

    /// A generator keyed with exactly 32 seed bytes.
    public init(seed: UnsafeRawBufferPointer) {
        key = ChaCha20Key(bytes: seed)
    }

    /// A generator keyed with `key`.
    public init(key: ChaCha20Key) {
        self.key = key
    }

    /// Fills `destination` with random bytes.
    public mutating func fill(_ destination: UnsafeMutableRawBufferPointer) {
        guard var target = destination.baseAddress else { return }
        var remaining = destination.count
        while remaining > 0 {
            if consumed == Self.bufferSize { refill() }
            let length = min(remaining, Self.bufferSize - consumed)
            let start = consumed
            withUnsafeMutableBytes(of: &buffer) { raw in
                let source = raw.baseAddress! + start
                target.copyMemory(from: source, byteCount: length)
                source.initializeMemory(as: UInt8.self, repeating: 0, count: length)
            }
            consumed += length
            target += length
            remaining -= length
        }
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        var value: UInt64 = 0
        withUnsafeMutableBytes(of: &value) { fill($0) }
        return value
    }

    /// Computes the next block: new key from its first half, fresh output from its second.
    private mutating func refill() {
        let output = ChaCha20.block(key: key, counter: 0, nonce: .zero).words
        key = ChaCha20Key(words: (output.0, output.1, output.2, output.3,
                                  output.4, output.5, output.6, output.7))
        // Output bytes are the words in memory order (the block's serialization on x86-64).
        buffer = (output.8, output.9, output.10, output.11, output.12, output.13, output.14, output.15)
        consumed = 0
    }
}

/// The `index`th 32-bit little-endian word of `bytes`.
@inline(__always)
private func littleEndianWord(_ bytes: UnsafeRawBufferPointer, _ index: Int) -> UInt32 {
    UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
}
