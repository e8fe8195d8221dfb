// The guest heap: a TLSF-style allocator over one contiguous region. It is the heap the
// Swift runtime allocates from, so it never allocates itself; all of its state lives at
// the start of the managed region (the struct is only a handle to it plus the fault hook).
//
// Blocks carry boundary tags (see HeapBlock) and free neighbours are merged immediately, so
// no two free blocks are ever adjacent. Free blocks sit in segregated lists, one per size
// class (see HeapSizeClass), with a two-level bitmap of non-empty lists: allocate finds a
// fitting list head with two bit scans and splits off the unused tail; deallocate merges
// with both neighbours in O(1).

public enum HeapFault: Equatable {
    case doubleFree
    case foreignPointer
    case corruptHeader
}

public struct HeapStatistics: Equatable {
    /// Usable bytes of the live allocations (the sum of their `usableSize`).
    public var bytesInUse: Int
    public var peakBytesInUse: Int
    /// Bytes held by free blocks, their headers included.
    public var bytesFree: Int
    /// The largest `byteCount` that `allocate(byteCount:alignment: 16)` can satisfy now.
    public var largestFreeBlock: Int
    /// Successful allocations and deallocations since the heap was created.
    public var allocationCount: Int
    public var freeCount: Int
}

public struct Heap {
    /// Larger regions are accepted but only their first 64 GiB are used: free-list links
    /// are 32-bit granule offsets and the size classes stop there.
    public static let maximumRegionSize = 1 << 36
    public static var minimumRegionSize: Int {
        HeapBlock.granule - 1 + controlSize + HeapBlock.minimumSize + HeapBlock.headerSize
    }

    /// Called by `deallocate` on misuse, with the pointer it was given; the heap is left
    /// untouched. The default traps.
    public var onFault: (HeapFault, UnsafeMutableRawPointer) -> Void = { fault, _ in
        switch fault {
        case .doubleFree: fatalError("heap: double free")
        case .foreignPointer: fatalError("heap: pointer not from this heap")
        case .corruptHeader: fatalError("heap: corrupted block header")
        }
    }

    /// Start of the control block; free-list links are granule offsets from here, and 0
    /// (the control block itself) means "none".
    private let base: UnsafeMutableRawPointer
    private let firstBlock: UnsafeMutableRawPointer
    /// A zero-size in-use header closing the region, so the last block never merges past it.
    private let sentinel: UnsafeMutableRawPointer

    /// Manages `[start, start + size)`. The region must hold at least `minimumRegionSize`
    /// bytes and must outlive the heap.
    public init(start: UnsafeMutableRawPointer, size: Int) {
        let alignedStart = start.alignedUp(toMultipleOf: HeapBlock.granule)
        precondition(size >= Heap.minimumRegionSize, "heap: region too small")
        let managed = min(size - (alignedStart - start), Heap.maximumRegionSize) & ~(HeapBlock.granule - 1)
        base = alignedStart
        firstBlock = base + Heap.controlSize
        sentinel = base + managed - HeapBlock.headerSize

        base.initializeMemory(as: UInt8.self, repeating: 0, count: Heap.controlSize)
        var mixer = SplitMix64(seed: UInt64(UInt(bitPattern: base)))
        let cookie = mixer.next()
        base.bindMemory(to: HeapControl.self, capacity: 1).initialize(to: HeapControl(cookie: cookie))

        let block = HeapBlock(firstBlock)
        block.writeHeader(size: sentinel - firstBlock, isFree: true, isPreviousFree: false, cookie: cookie)
        block.writeFooter()
        HeapBlock(sentinel).writeHeader(size: 0, isFree: false, isPreviousFree: true, cookie: cookie)
        insertFree(block)
        control.pointee.bytesFree = block.size
    }

    // MARK: Allocation

    /// Returns at least `byteCount` bytes aligned to `alignment` (at least 16), or nil when
    /// out of memory, when `alignment` is not a positive power of two, or when `byteCount`
    /// is negative or larger than the region. A zero `byteCount` gets a minimal block of its
    /// own (16 usable bytes), like `malloc(0)`.
    public mutating func allocate(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        let span = sentinel - firstBlock
        guard byteCount >= 0, byteCount <= span,
              alignment > 0, alignment & (alignment - 1) == 0, alignment <= span
        else { return nil }
        let granule = HeapBlock.granule
        let blockSize = max(HeapBlock.minimumSize, (byteCount + HeapBlock.headerSize + granule - 1) & ~(granule - 1))
        let alignment = max(alignment, granule)
        // The gap in front of an over-aligned payload must either vanish or be big enough
        // to become a free block of its own.
        let searchSize = alignment == granule ? blockSize : blockSize + alignment + HeapBlock.minimumSize
        guard searchSize <= span, var block = takeFreeBlock(atLeast: searchSize) else { return nil }

        let cookie = self.cookie
        var isPreviousFree = false
        if alignment > granule {
            var gap = block.payload.alignedUp(toMultipleOf: alignment) - block.payload
            if gap != 0 && gap < HeapBlock.minimumSize { gap += alignment }
            if gap != 0 {
                let rest = block.size - gap
                block.writeHeader(size: gap, isFree: true, isPreviousFree: false, cookie: cookie)
                block.writeFooter()
                insertFree(block)
                block = HeapBlock(block.address + gap)
                block.writeHeader(size: rest, isFree: true, isPreviousFree: true, cookie: cookie)
                isPreviousFree = true
            }
        }

        var usedSize = block.size
        if usedSize - blockSize >= HeapBlock.minimumSize {
            // The block after the tail already records a free predecessor.
            let tail = HeapBlock(block.address + blockSize)
            tail.writeHeader(size: usedSize - blockSize, isFree: true, isPreviousFree: false, cookie: cookie)
            tail.writeFooter()
            insertFree(tail)
            usedSize = blockSize
        } else {
            block.next.setPreviousFree(false, cookie: cookie)
        }
        block.writeHeader(size: usedSize, isFree: false, isPreviousFree: isPreviousFree, cookie: cookie)

        control.pointee.bytesFree -= usedSize
        control.pointee.bytesInUse += usedSize - HeapBlock.headerSize
        control.pointee.peakBytesInUse = max(control.pointee.peakBytesInUse, control.pointee.bytesInUse)
        control.pointee.allocationCount += 1
        return block.payload
    }

    /// Returns a block to the heap. A pointer this heap did not hand out, one already freed,
    /// or one whose block header (or its neighbours') was overwritten is reported to
    /// `onFault` and the heap is left as it was.
    public mutating func deallocate(_ pointer: UnsafeMutableRawPointer) {
        guard pointer >= firstBlock + HeapBlock.headerSize, pointer < sentinel,
              UInt(bitPattern: pointer) % UInt(HeapBlock.granule) == 0
        else { return onFault(.foreignPointer, pointer) }
        let cookie = self.cookie
        let block = HeapBlock(payload: pointer)
        guard block.hasValidCheck(cookie: cookie) else { return onFault(.corruptHeader, pointer) }
        guard !block.isFree else { return onFault(.doubleFree, pointer) }

        let size = block.size
        guard isPlausible(size, at: block.address) else { return onFault(.corruptHeader, pointer) }
        let next = block.next
        guard next.hasValidCheck(cookie: cookie), !next.isPreviousFree,
              !next.isFree || isPlausible(next.size, at: next.address)
        else { return onFault(.corruptHeader, pointer) }
        var previous: HeapBlock? = nil
        if block.isPreviousFree {
            let previousSize = block.previousSize
            guard previousSize >= HeapBlock.minimumSize, previousSize % HeapBlock.granule == 0,
                  previousSize <= block.address - firstBlock
            else { return onFault(.corruptHeader, pointer) }
            let candidate = HeapBlock(block.address - previousSize)
            guard candidate.hasValidCheck(cookie: cookie), candidate.isFree, candidate.size == previousSize
            else { return onFault(.corruptHeader, pointer) }
            previous = candidate
        }

        var merged = block
        var mergedSize = size
        // A swallowed free neighbour's stale header still reads "free", which is all a
        // later double free of it needs; a swallowed in-use block must be stamped.
        if next.isFree {
            removeFree(next)
            mergedSize += next.size
        }
        if let previous {
            removeFree(previous)
            mergedSize += previous.size
            block.markAbsorbed(cookie: cookie)
            merged = previous
        }
        merged.writeHeader(size: mergedSize, isFree: true, isPreviousFree: false, cookie: cookie)
        merged.writeFooter()
        merged.next.setPreviousFree(true, cookie: cookie)
        insertFree(merged)

        control.pointee.bytesFree += size
        control.pointee.bytesInUse -= size - HeapBlock.headerSize
        control.pointee.freeCount += 1
    }

    /// The bytes usable at `pointer`, which must be a live allocation of this heap.
    public func usableSize(_ pointer: UnsafeMutableRawPointer) -> Int {
        HeapBlock(payload: pointer).size - HeapBlock.headerSize
    }

    public var statistics: HeapStatistics {
        let state = control.pointee
        return HeapStatistics(
            bytesInUse: state.bytesInUse, peakBytesInUse: state.peakBytesInUse,
            bytesFree: state.bytesFree, largestFreeBlock: largestFreePayload(),
            allocationCount: state.allocationCount, freeCount: state.freeCount)
    }

    // MARK: Free lists

    private func takeFreeBlock(atLeast size: Int) -> HeapBlock? {
        if let sizeClass = HeapSizeClass.firstFitting(size), let found = firstNonEmptyClass(from: sizeClass) {
            let block = self.block(at: head(found.index))
            removeFree(block)
            return block
        }
        // Nothing in the classes that fit outright; the class `size` itself falls into may
        // still hold a big enough block. Only reached when memory is nearly exhausted.
        var offset = head(HeapSizeClass(containing: size).index)
        while offset != 0 {
            let block = self.block(at: offset)
            if block.size >= size {
                removeFree(block)
                return block
            }
            offset = block.nextFree
        }
        return nil
    }

    private func firstNonEmptyClass(from sizeClass: HeapSizeClass) -> HeapSizeClass? {
        var firstLevel = sizeClass.firstLevel
        var subBins = UInt32(secondLevelBitmap(firstLevel)) & (~UInt32(0) << UInt32(sizeClass.secondLevel))
        if subBins == 0 {
            let levels = control.pointee.firstLevelBitmap & (~UInt32(0) << UInt32(firstLevel + 1))
            if levels == 0 { return nil }
            firstLevel = levels.trailingZeroBitCount
            subBins = UInt32(secondLevelBitmap(firstLevel))
        }
        return HeapSizeClass(firstLevel: firstLevel, secondLevel: subBins.trailingZeroBitCount)
    }

    private func insertFree(_ block: HeapBlock) {
        let sizeClass = HeapSizeClass(containing: block.size)
        let offset = self.offset(of: block)
        let first = head(sizeClass.index)
        block.nextFree = first
        block.previousFree = 0
        if first != 0 { self.block(at: first).previousFree = offset }
        setHead(sizeClass.index, offset)
        setSecondLevelBitmap(sizeClass.firstLevel,
                             secondLevelBitmap(sizeClass.firstLevel) | UInt16(1) << UInt16(sizeClass.secondLevel))
        control.pointee.firstLevelBitmap |= UInt32(1) << UInt32(sizeClass.firstLevel)
    }

    private func removeFree(_ block: HeapBlock) {
        let sizeClass = HeapSizeClass(containing: block.size)
        let next = block.nextFree
        let previous = block.previousFree
        if next != 0 { self.block(at: next).previousFree = previous }
        if previous != 0 {
            self.block(at: previous).nextFree = next
            return
        }
        setHead(sizeClass.index, next)
        if next == 0 {
            let subBins = secondLevelBitmap(sizeClass.firstLevel) & ~(UInt16(1) << UInt16(sizeClass.secondLevel))
            setSecondLevelBitmap(sizeClass.firstLevel, subBins)
            if subBins == 0 {
                control.pointee.firstLevelBitmap &= ~(UInt32(1) << UInt32(sizeClass.firstLevel))
            }
        }
    }

    private func largestFreePayload() -> Int {
        let levels = control.pointee.firstLevelBitmap
        guard levels != 0 else { return 0 }
        let firstLevel = UInt32.bitWidth - 1 - levels.leadingZeroBitCount
        let secondLevel = UInt16.bitWidth - 1 - secondLevelBitmap(firstLevel).leadingZeroBitCount
        var largest = 0
        var offset = head(HeapSizeClass(firstLevel: firstLevel, secondLevel: secondLevel).index)
        while offset != 0 {
            let block = self.block(at: offset)
            largest = max(largest, block.size)
            offset = block.nextFree
        }
        return largest - HeapBlock.headerSize
    }

    // MARK: Consistency

    /// Walks every block and every free list and checks that they agree with each other and
    /// with the statistics. Linear in the number of blocks: for tests and debugging.
    public func validate() -> Bool {
        let cookie = self.cookie
        var block = HeapBlock(firstBlock)
        var previousWasFree = false
        var freeBlocks = 0
        var freeBytes = 0
        var usedBytes = 0
        while block.address != sentinel {
            guard block.hasValidCheck(cookie: cookie), isPlausible(block.size, at: block.address),
                  block.isPreviousFree == previousWasFree
            else { return false }
            if block.isFree {
                guard !previousWasFree, block.footer == block.size, isListedConsistently(block) else { return false }
                freeBlocks += 1
                freeBytes += block.size
            } else {
                usedBytes += block.size - HeapBlock.headerSize
            }
            previousWasFree = block.isFree
            block = block.next
        }
        guard block.hasValidCheck(cookie: cookie), block.size == 0, !block.isFree,
              block.isPreviousFree == previousWasFree
        else { return false }

        var listed = 0
        for firstLevel in 0..<HeapSizeClass.firstLevelCount {
            let subBins = secondLevelBitmap(firstLevel)
            let levelBit = control.pointee.firstLevelBitmap & (UInt32(1) << UInt32(firstLevel)) != 0
            guard levelBit == (subBins != 0) else { return false }
            for secondLevel in 0..<HeapSizeClass.subBinCount {
                let sizeClass = HeapSizeClass(firstLevel: firstLevel, secondLevel: secondLevel)
                var offset = head(sizeClass.index)
                guard (offset != 0) == (subBins & (UInt16(1) << UInt16(secondLevel)) != 0) else { return false }
                while offset != 0 {
                    // More entries than free blocks means a cycle or a stray entry.
                    guard listed < freeBlocks, let member = blockIfInside(offset),
                          member.hasValidCheck(cookie: cookie), member.isFree,
                          isPlausible(member.size, at: member.address),
                          HeapSizeClass(containing: member.size) == sizeClass
                    else { return false }
                    listed += 1
                    offset = member.nextFree
                }
            }
        }
        let state = control.pointee
        return listed == freeBlocks && state.bytesFree == freeBytes && state.bytesInUse == usedBytes
            && state.peakBytesInUse >= usedBytes
    }

    private func isListedConsistently(_ block: HeapBlock) -> Bool {
        let offset = self.offset(of: block)
        if block.previousFree == 0 {
            guard head(HeapSizeClass(containing: block.size).index) == offset else { return false }
        } else {
            guard let previous = blockIfInside(block.previousFree), previous.nextFree == offset else { return false }
        }
        if block.nextFree != 0 {
            guard let next = blockIfInside(block.nextFree), next.previousFree == offset else { return false }
        }
        return true
    }

    private func isPlausible(_ size: Int, at address: UnsafeMutableRawPointer) -> Bool {
        size >= HeapBlock.minimumSize && size % HeapBlock.granule == 0 && size <= sentinel - address
    }

    // MARK: Control block

    private var control: UnsafeMutablePointer<HeapControl> {
        base.assumingMemoryBound(to: HeapControl.self)
    }

    private var cookie: UInt64 { control.pointee.cookie }

    private static var secondLevelOffset: Int { (MemoryLayout<HeapControl>.stride + 7) & ~7 }
    private static var headsOffset: Int {
        (secondLevelOffset + HeapSizeClass.firstLevelCount * MemoryLayout<UInt16>.stride + 3) & ~3
    }
    private static var controlSize: Int {
        let end = headsOffset + HeapSizeClass.binCount * MemoryLayout<UInt32>.stride
        return (end + HeapBlock.granule - 1) & ~(HeapBlock.granule - 1)
    }

    private func secondLevelBitmap(_ firstLevel: Int) -> UInt16 {
        base.load(fromByteOffset: Heap.secondLevelOffset + firstLevel * 2, as: UInt16.self)
    }

    private func setSecondLevelBitmap(_ firstLevel: Int, _ value: UInt16) {
        base.storeBytes(of: value, toByteOffset: Heap.secondLevelOffset + firstLevel * 2, as: UInt16.self)
    }

    private func head(_ index: Int) -> UInt32 {
        base.load(fromByteOffset: Heap.headsOffset + index * 4, as: UInt32.self)
    }

    private func setHead(_ index: Int, _ offset: UInt32) {
        base.storeBytes(of: offset, toByteOffset: Heap.headsOffset + index * 4, as: UInt32.self)
    }

    private func offset(of block: HeapBlock) -> UInt32 {
        UInt32(truncatingIfNeeded: (block.address - base) / HeapBlock.granule)
    }

    private func block(at offset: UInt32) -> HeapBlock {
        HeapBlock(base + Int(offset) * HeapBlock.granule)
    }

    private func blockIfInside(_ offset: UInt32) -> HeapBlock? {
        let candidate = block(at: offset)
        return candidate.address >= firstBlock && candidate.address < sentinel ? candidate : nil
    }
}

/// The fixed part of the control block at the start of the region; the second-level bitmaps
/// and the list heads follow it (see `Heap.headsOffset`).
struct HeapControl {
    var cookie: UInt64
    var firstLevelBitmap: UInt32 = 0
    var bytesInUse = 0
    var peakBytesInUse = 0
    var bytesFree = 0
    var allocationCount = 0
    var freeCount = 0
}
