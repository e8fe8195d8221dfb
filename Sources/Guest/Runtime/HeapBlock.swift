// One block of the guest heap, seen through its address. Blocks tile the managed region
// back to back; an in-use block is a 16-byte header followed by its payload:
//
//   +0   word: size in bytes (multiple of 16, header included) | isPreviousFree | isFree
//   +8   check: `word` mixed with the block address and the heap cookie
//   +16  payload
//
// A free block's payload holds its free-list links (granule offsets, see Heap) at +16 and
// +20, and a copy of its size in its last 8 bytes (the footer). An in-use block has no
// footer: the block after it knows from `isPreviousFree` that there is nothing to merge,
// so only free blocks pay for the footer and the whole payload of a used block is usable.

struct HeapBlock: Equatable {
    static let granule = 16
    static let headerSize = 16
    /// Header, two links and a footer must fit in a free block.
    static let minimumSize = 32

    private static let freeBit: UInt64 = 1
    private static let previousFreeBit: UInt64 = 2
    private static let flagMask: UInt64 = 0xF

    let address: UnsafeMutableRawPointer

    init(_ address: UnsafeMutableRawPointer) {
        self.address = address
    }

    init(payload: UnsafeMutableRawPointer) {
        address = payload - HeapBlock.headerSize
    }

    var payload: UnsafeMutableRawPointer { address + HeapBlock.headerSize }

    private var word: UInt64 { address.load(as: UInt64.self) }

    var size: Int { Int(truncatingIfNeeded: word & ~HeapBlock.flagMask) }
    var isFree: Bool { word & HeapBlock.freeBit != 0 }
    var isPreviousFree: Bool { word & HeapBlock.previousFreeBit != 0 }

    /// The physically following block (the region ends with a zero-size in-use sentinel).
    var next: HeapBlock { HeapBlock(address + size) }

    func hasValidCheck(cookie: UInt64) -> Bool {
        address.load(fromByteOffset: 8, as: UInt64.self) == checkWord(for: word, cookie: cookie)
    }

    func writeHeader(size: Int, isFree: Bool, isPreviousFree: Bool, cookie: UInt64) {
        var word = UInt64(truncatingIfNeeded: size)
        if isFree { word |= HeapBlock.freeBit }
        if isPreviousFree { word |= HeapBlock.previousFreeBit }
        address.storeBytes(of: word, as: UInt64.self)
        address.storeBytes(of: checkWord(for: word, cookie: cookie), toByteOffset: 8, as: UInt64.self)
    }

    func setPreviousFree(_ previousFree: Bool, cookie: UInt64) {
        writeHeader(size: size, isFree: isFree, isPreviousFree: previousFree, cookie: cookie)
    }

    /// Stamps the header of a block being freed into the free block before it as "free,
    /// size 0", so that freeing its payload pointer again is still seen as a double free.
    func markAbsorbed(cookie: UInt64) {
        writeHeader(size: 0, isFree: true, isPreviousFree: false, cookie: cookie)
    }

    // MARK: Free blocks only

    var footer: Int { Int(truncatingIfNeeded: (address + size - 8).load(as: UInt64.self)) }

    func writeFooter() {
        (address + size - 8).storeBytes(of: UInt64(truncatingIfNeeded: size), as: UInt64.self)
    }

    /// The size stored in the footer of the block before this one; meaningful only when
    /// `isPreviousFree`.
    var previousSize: Int { Int(truncatingIfNeeded: (address - 8).load(as: UInt64.self)) }

    var nextFree: UInt32 {
        get { address.load(fromByteOffset: 16, as: UInt32.self) }
        nonmutating set { address.storeBytes(of: newValue, toByteOffset: 16, as: UInt32.self) }
    }

    var previousFree: UInt32 {
        get { address.load(fromByteOffset: 20, as: UInt32.self) }
        nonmutating set { address.storeBytes(of: newValue, toByteOffset: 20, as: UInt32.self) }
    }

    private func checkWord(for word: UInt64, cookie: UInt64) -> UInt64 {
        // Multiplying by an odd constant is a bijection, so any change to `word` changes
        // the check; folding in the address makes a header copied elsewhere invalid.
        ((word ^ UInt64(UInt(bitPattern: address))) &* 0x9E37_79B9_7F4A_7C15) ^ cookie
    }
}
