// TLSF size classes for free blocks. The first level is the power of two of the block size;
// each power-of-two range is split into 16 equal sub-bins. Below 256 bytes every bin holds
// exactly one block size (one granule apart).

struct HeapSizeClass: Equatable {
    static let subBinBits = 4
    static let subBinCount = 1 << subBinBits
    /// Block sizes below this go to first level 0, one granule per bin.
    static let smallLimit = subBinCount * HeapBlock.granule
    private static let smallLimitBits = 8
    /// Enough levels for blocks smaller than `Heap.maximumRegionSize` (2^36).
    static let firstLevelCount = 29
    static let binCount = firstLevelCount * subBinCount

    var firstLevel: Int
    var secondLevel: Int

    var index: Int { firstLevel * HeapSizeClass.subBinCount + secondLevel }

    /// The class a free block of `size` bytes is filed under.
    init(containing size: Int) {
        if size < HeapSizeClass.smallLimit {
            firstLevel = 0
            secondLevel = size / HeapBlock.granule
        } else {
            let log2 = Int.bitWidth - 1 - size.leadingZeroBitCount
            firstLevel = log2 - HeapSizeClass.smallLimitBits + 1
            secondLevel = (size >> (log2 - HeapSizeClass.subBinBits)) ^ HeapSizeClass.subBinCount
        }
    }

    init(firstLevel: Int, secondLevel: Int) {
        self.firstLevel = firstLevel
        self.secondLevel = secondLevel
    }

    /// The lowest class in which every block holds at least `size` bytes, so the head of any
    /// non-empty class at or above it fits without a search. Nil beyond the last class.
    static func firstFitting(_ size: Int) -> HeapSizeClass? {
        var rounded = size
        if size >= smallLimit {
            let log2 = Int.bitWidth - 1 - size.leadingZeroBitCount
            rounded += (1 << (log2 - subBinBits)) - 1
        }
        let sizeClass = HeapSizeClass(containing: rounded)
        return sizeClass.firstLevel < firstLevelCount ? sizeClass : nil
    }
}
