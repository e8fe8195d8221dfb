import Testing
import TestSupport
@testable import Swiftlet

/// Runs `body` with a heap over a freshly allocated region of `size` bytes.
private func withHeap<R>(
    size: Int = 1 << 20, _ body: (inout Heap, UnsafeMutableRawPointer) throws -> R
) rethrows -> R {
    let region = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
    defer { region.deallocate() }
    var heap = Heap(start: region, size: size)
    return try body(&heap, region)
}

/// Records faults instead of trapping.
private final class FaultLog {
    var faults: [HeapFault] = []
    var pointers: [UnsafeMutableRawPointer] = []
}

private func recordFaults(of heap: inout Heap) -> FaultLog {
    let log = FaultLog()
    heap.onFault = { fault, pointer in
        log.faults.append(fault)
        log.pointers.append(pointer)
    }
    return log
}

extension Heap {
    /// `allocate` that fails the test when it returns nil.
    mutating func take(
        _ byteCount: Int, alignment: Int = 16, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> UnsafeMutableRawPointer {
        let pointer = allocate(byteCount: byteCount, alignment: alignment)
        return try #require(pointer, "allocate(byteCount: \(byteCount), alignment: \(alignment))", sourceLocation: sourceLocation)
    }
}


private func patternWord(id: Int, index: Int) -> UInt64 {
    (UInt64(truncatingIfNeeded: id) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(truncatingIfNeeded: index) &* 0xD6E8_FEB8_6659_FD93)
}

/// Fills `count` bytes with a pattern derived from `id` (the payload is 16-byte aligned).
private func fill(_ pointer: UnsafeMutableRawPointer, count: Int, id: Int) {
    for index in 0..<count / 8 {
        pointer.storeBytes(of: patternWord(id: id, index: index), toByteOffset: index * 8, as: UInt64.self)
    }
    for index in (count / 8 * 8)..<count {
        pointer.storeBytes(of: UInt8(truncatingIfNeeded: patternWord(id: id, index: index)), toByteOffset: index, as: UInt8.self)
    }
}

private func holdsPattern(_ pointer: UnsafeMutableRawPointer, count: Int, id: Int) -> Bool {
    for index in 0..<count / 8
    where pointer.load(fromByteOffset: index * 8, as: UInt64.self) != patternWord(id: id, index: index) {
        return false
    }
    for index in (count / 8 * 8)..<count
    where pointer.load(fromByteOffset: index, as: UInt8.self) != UInt8(truncatingIfNeeded: patternWord(id: id, index: index)) {
        return false
    }
    return true
}

@Suite struct HeapTests {
    // MARK: Basics

    @Test func allocationsLieInsideTheRegionAndDoNotOverlap() throws {
        let size = 1 << 20
        try withHeap(size: size) { heap, region in
            var live: [(pointer: UnsafeMutableRawPointer, id: Int)] = []
            for (id, byteCount) in [1, 15, 16, 17, 100, 1000, 4096, 10_000].enumerated() {
                let pointer = try heap.take(byteCount)
                #expect(pointer >= region && pointer + byteCount <= region + size)
                #expect(UInt(bitPattern: pointer) % 16 == 0)
                #expect(heap.usableSize(pointer) >= byteCount)
                // The whole usable size is the caller's, up to the next block's header.
                fill(pointer, count: heap.usableSize(pointer), id: id)
                live.append((pointer, id))
            }
            #expect(heap.validate())
            for (pointer, id) in live {
                #expect(holdsPattern(pointer, count: heap.usableSize(pointer), id: id))
            }
            let statistics = heap.statistics
            #expect(statistics.allocationCount == 8)
            #expect(statistics.bytesInUse == live.reduce(0) { $0 + heap.usableSize($1.pointer) })
        }
    }

    @Test func accountingAddsUp() throws {
        try withHeap { heap, _ in
            let initial = heap.statistics
            #expect(initial.bytesInUse == 0 && initial.largestFreeBlock == initial.bytesFree - 16)
            #expect(initial.bytesFree > (1 << 20) - 4096)
            var live: [UnsafeMutableRawPointer] = []
            for byteCount in stride(from: 1, to: 3000, by: 97) {
                live.append(try heap.take(byteCount))
            }
            let statistics = heap.statistics
            // Every byte is free, usable by a caller, or a 16-byte header of a live block.
            #expect(statistics.bytesFree + statistics.bytesInUse + 16 * live.count == initial.bytesFree)
            #expect(heap.validate())
        }
    }

    @Test func freedMemoryIsReused() throws {
        try withHeap { heap, _ in
            let initial = heap.statistics
            let first = try heap.take(100)
            let usable = heap.usableSize(first)
            #expect(heap.statistics.bytesInUse == usable)
            heap.deallocate(first)
            #expect(heap.statistics.bytesInUse == 0)
            let second = try heap.take(100)
            #expect(second == first)
            heap.deallocate(second)

            let statistics = heap.statistics
            #expect(statistics.bytesInUse == 0)
            #expect(statistics.peakBytesInUse == usable)
            #expect(statistics.bytesFree == initial.bytesFree)
            #expect(statistics.largestFreeBlock == initial.largestFreeBlock)
            #expect(statistics.allocationCount == 2 && statistics.freeCount == 2)
            #expect(heap.validate())
        }
    }

    @Test func holeBetweenLiveBlocksIsReused() throws {
        try withHeap { heap, _ in
            let a = try heap.take(500)
            let b = try heap.take(500)
            let c = try heap.take(500)
            heap.deallocate(b)
            let smaller = try heap.take(200)
            #expect(smaller == b)
            #expect(heap.validate())
            for pointer in [a, c, smaller] { heap.deallocate(pointer) }
            #expect(heap.validate())
            #expect(heap.statistics.bytesInUse == 0)
        }
    }

    // MARK: Alignment

    @Test(arguments: (0...12).map { 1 << $0 })
    func alignment(_ alignment: Int) throws {
        try withHeap(size: 4 << 20) { heap, _ in
            let initial = heap.statistics
            var live: [(pointer: UnsafeMutableRawPointer, byteCount: Int)] = []
            for byteCount in [0, 1, 3, 16, 31, 48, 100, 255, 256, 1000, 4095, 4097, 20_000] {
                let pointer = try heap.take(byteCount, alignment: alignment)
                #expect(UInt(bitPattern: pointer) % UInt(max(alignment, 16)) == 0)
                #expect(heap.usableSize(pointer) >= byteCount)
                fill(pointer, count: byteCount, id: live.count)
                live.append((pointer, byteCount))
                // A small neighbour shifts where the next over-aligned block would start.
                let spacer = try heap.take(24)
                fill(spacer, count: 24, id: live.count)
                live.append((spacer, 24))
            }
            #expect(heap.validate())
            for (id, block) in live.enumerated() {
                #expect(holdsPattern(block.pointer, count: block.byteCount, id: id))
            }
            for (index, block) in live.enumerated() where index % 2 == 1 { heap.deallocate(block.pointer) }
            #expect(heap.validate())
            for (index, block) in live.enumerated() where index % 2 == 0 { heap.deallocate(block.pointer) }
            #expect(heap.validate())
            #expect(heap.statistics.bytesInUse == 0)
            #expect(heap.statistics.largestFreeBlock == initial.largestFreeBlock)
        }
    }

    @Test(arguments: [1 << 16, 1 << 20])
    func largeAlignment(_ alignment: Int) throws {
        try withHeap(size: 4 << 20) { heap, _ in
            let small = try heap.take(40)
            let pointer = try heap.take(5000, alignment: alignment)
            #expect(UInt(bitPattern: pointer) % UInt(alignment) == 0)
            fill(pointer, count: 5000, id: 1)
            #expect(heap.validate())
            // The leading gap went back to the free lists and serves the next request.
            let next = try heap.take(40)
            #expect(next < pointer)
            #expect(holdsPattern(pointer, count: 5000, id: 1))
            for block in [small, pointer, next] { heap.deallocate(block) }
            #expect(heap.validate())
        }
    }

    // MARK: Coalescing

    @Test(arguments: [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])
    func neighboursCoalesce(_ order: [Int]) throws {
        try withHeap { heap, _ in
            let initial = heap.statistics
            let blocks = try [10_000, 10_000, 10_000].map { try heap.take($0) }
            // Take everything else, so the only free memory is what A, B and C give back.
            let rest = try heap.take(heap.statistics.largestFreeBlock)
            #expect(heap.statistics.bytesFree == 0)
            #expect(heap.statistics.largestFreeBlock == 0)
            for index in order { heap.deallocate(blocks[index]) }
            #expect(heap.validate())
            #expect(heap.statistics.bytesFree == 3 * 10_016)
            #expect(heap.statistics.largestFreeBlock == 3 * 10_016 - 16)
            heap.deallocate(rest)
            #expect(heap.statistics.largestFreeBlock == initial.largestFreeBlock)
            #expect(heap.validate())
        }
    }

    // MARK: Exhaustion and bad requests

    @Test func outOfMemoryReturnsNilAndLeavesTheHeapUsable() throws {
        let size = 256 << 10
        try withHeap(size: size) { heap, _ in
            let initial = heap.statistics
            #expect(heap.allocate(byteCount: size, alignment: 16) == nil)
            #expect(heap.allocate(byteCount: initial.largestFreeBlock + 1, alignment: 16) == nil)

            var live: [UnsafeMutableRawPointer] = []
            while let pointer = heap.allocate(byteCount: 1000, alignment: 16) { live.append(pointer) }
            #expect(live.count > 200)
            #expect(heap.validate())
            // Whatever is left can still be handed out exactly.
            let remainder = heap.statistics.largestFreeBlock
            if remainder > 0 {
                live.append(try heap.take(remainder))
            }
            #expect(heap.allocate(byteCount: 1, alignment: 16) == nil)
            #expect(heap.statistics.bytesFree == 0)
            #expect(heap.validate())

            heap.deallocate(live.removeLast())
            heap.deallocate(live.removeFirst())
            let again = try heap.take(1000)
            live.append(again)
            #expect(heap.validate())
            for pointer in live { heap.deallocate(pointer) }
            #expect(heap.validate())
            #expect(heap.statistics.largestFreeBlock == initial.largestFreeBlock)
        }
    }

    @Test func zeroSizeGetsAMinimalBlockOfItsOwn() throws {
        try withHeap { heap, _ in
            let a = try heap.take(0)
            let b = try heap.take(0, alignment: 1)
            #expect(a != b)
            #expect(heap.usableSize(a) == 16 && heap.usableSize(b) == 16)
            heap.deallocate(a)
            heap.deallocate(b)
            #expect(heap.validate())
        }
    }

    @Test(arguments: [
        (Int.max, 16), (Int.max - 15, 16), (-1, 16), (Int.min, 16), ((1 << 20) + 1, 16),
        (16, 0), (16, 3), (16, 24), (16, -16), (16, Int.min), (16, 1 << 62), (Int.max, 1 << 12),
    ])
    func badRequestsReturnNil(byteCount: Int, alignment: Int) {
        withHeap { heap, _ in
            let initial = heap.statistics
            #expect(heap.allocate(byteCount: byteCount, alignment: alignment) == nil)
            #expect(heap.statistics == initial)
            #expect(heap.validate())
            #expect(heap.allocate(byteCount: 16, alignment: 16) != nil)
        }
    }

    // MARK: Misuse

    @Test func doubleFreeIsReported() throws {
        try withHeap { heap, _ in
            let log = recordFaults(of: &heap)
            let a = try heap.take(64)
            let guardBlock = try heap.take(64)
            heap.deallocate(a)
            let afterFirstFree = heap.statistics
            heap.deallocate(a)
            #expect(log.faults == [.doubleFree])
            #expect(log.pointers == [a])
            #expect(heap.statistics == afterFirstFree)
            #expect(heap.validate())
            heap.deallocate(guardBlock)
            #expect(heap.validate())
        }
    }

    @Test func doubleFreeOfACoalescedBlockIsReported() throws {
        try withHeap { heap, _ in
            let log = recordFaults(of: &heap)
            let a = try heap.take(64)
            let b = try heap.take(64)
            let c = try heap.take(64)
            let d = try heap.take(64)
            let e = try heap.take(64)
            heap.deallocate(a)
            heap.deallocate(b)  // merges into a's block
            heap.deallocate(d)
            heap.deallocate(c)  // merges with d, then into a's block
            let statistics = heap.statistics
            for pointer in [a, b, c, d] { heap.deallocate(pointer) }
            #expect(log.faults == [.doubleFree, .doubleFree, .doubleFree, .doubleFree])
            #expect(heap.statistics == statistics)
            #expect(heap.validate())
            heap.deallocate(e)
            #expect(log.faults.count == 4)
            #expect(heap.validate())
        }
    }

    @Test func foreignPointersAreReported() throws {
        try withHeap { heap, region in
            let log = recordFaults(of: &heap)
            let a = try heap.take(64)
            let elsewhere = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
            defer { elsewhere.deallocate() }
            for pointer in [elsewhere, region, region + 16, a + 8, a + 1, region + (1 << 20), region + (2 << 20)] {
                heap.deallocate(pointer)
            }
            #expect(log.faults == Array(repeating: .foreignPointer, count: 7))
            #expect(log.pointers.first == elsewhere)
            #expect(heap.validate())
            heap.deallocate(a)
            #expect(log.faults.count == 7)
            #expect(heap.statistics.bytesInUse == 0)
        }
    }

    @Test func corruptHeadersAreReportedAndLeftAlone() throws {
        try withHeap { heap, _ in
            let log = recordFaults(of: &heap)
            let a = try heap.take(64)
            let b = try heap.take(64)

            // An interior pointer: its "header" is caller data.
            let big = try heap.take(256)
            fill(big, count: 256, id: 7)
            heap.deallocate(big + 64)
            #expect(log.faults == [.corruptHeader])

            // b's header overwritten (say, by an overflow of a).
            let header = b - 16
            let saved = (header.load(as: UInt64.self), header.load(fromByteOffset: 8, as: UInt64.self))
            header.storeBytes(of: 0x4141_4141_4141_4141, as: UInt64.self)
            heap.deallocate(b)
            #expect(log.faults == [.corruptHeader, .corruptHeader])
            // Freeing a checks the header behind it too, so it is refused as well.
            heap.deallocate(a)
            #expect(log.faults == [.corruptHeader, .corruptHeader, .corruptHeader])
            #expect(!heap.validate())

            // Nothing was touched: with the header restored the heap is whole again.
            header.storeBytes(of: saved.0, as: UInt64.self)
            header.storeBytes(of: saved.1, toByteOffset: 8, as: UInt64.self)
            #expect(heap.validate())
            for pointer in [a, b, big] { heap.deallocate(pointer) }
            #expect(log.faults.count == 3)
            #expect(heap.validate())
            #expect(heap.statistics.bytesInUse == 0)
        }
    }

    @Test func validateNoticesABrokenFooter() throws {
        try withHeap { heap, _ in
            let a = try heap.take(100)
            let b = try heap.take(100)
            let blockSize = heap.usableSize(a) + 16
            heap.deallocate(a)
            #expect(heap.validate())
            let footer = a - 16 + blockSize - 8
            let saved = footer.load(as: UInt64.self)
            footer.storeBytes(of: saved + 16, as: UInt64.self)
            #expect(!heap.validate())
            footer.storeBytes(of: saved, as: UInt64.self)
            #expect(heap.validate())
            heap.deallocate(b)
        }
    }

    // MARK: Stress

    @Test func seededRandomStress() {
        let size = 8 << 20
        withHeap(size: size) { heap, _ in
            let initial = heap.statistics
            var random = SplitMix64(seed: 0x5EED_1234)
            let slotCount = 256
            var slots: [(pointer: UnsafeMutableRawPointer, byteCount: Int, id: Int)?] = Array(repeating: nil, count: slotCount)
            var nextID = 0
            var failures = 0
            var liveCount = 0
            for operation in 1...20_000 {
                let slot = random.next(below: slotCount)
                if let block = slots[slot] {
                    #expect(holdsPattern(block.pointer, count: block.byteCount, id: block.id))
                    heap.deallocate(block.pointer)
                    slots[slot] = nil
                    liveCount -= 1
                } else {
                    // Mostly small objects, as the Swift runtime allocates them.
                    let byteCount = random.next(below: 4) == 0 ? 1 + random.next(below: 8192) : 1 + random.next(below: 256)
                    let alignment = random.next(below: 8) == 0 ? 1 << random.next(below: 13) : 16
                    guard let pointer = heap.allocate(byteCount: byteCount, alignment: alignment) else {
                        failures += 1
                        continue
                    }
                    #expect(UInt(bitPattern: pointer) % UInt(alignment) == 0)
                    nextID += 1
                    fill(pointer, count: byteCount, id: nextID)
                    slots[slot] = (pointer, byteCount, nextID)
                    liveCount += 1
                }
                if operation % 500 == 0 {
                    #expect(heap.validate(), "heap inconsistent after \(operation) operations")
                }
            }
            // At most 256 live blocks of at most 8 KiB + 4 KiB alignment slack each fit
            // several times over into 8 MiB; a failure means fragmentation got out of hand.
            #expect(failures == 0)
            #expect(liveCount > 0)
            #expect(heap.statistics.peakBytesInUse < size / 2)

            for case let block? in slots {
                #expect(holdsPattern(block.pointer, count: block.byteCount, id: block.id))
                heap.deallocate(block.pointer)
            }
            let statistics = heap.statistics
            #expect(heap.validate())
            #expect(statistics.bytesInUse == 0)
            #expect(statistics.bytesFree == initial.bytesFree)
            #expect(statistics.largestFreeBlock == initial.largestFreeBlock)
            #expect(statistics.allocationCount == nextID)
            #expect(statistics.freeCount == nextID)
        }
    }
}
